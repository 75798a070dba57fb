"""The judge layer every judged step shares (SHR, MMHal-Bench, `hadpo pairs`).

* :mod:`.backends`: where a prompt goes (a registry; OpenAI-compatible chat completions first).
* :mod:`.cache`: every reply appended to a JSON Lines file the moment it arrives, keyed on
  backend, model, decoding, item, run, attempt and prompt, with its token usage, so a rerun
  pays for nothing twice and a kill loses at most the requests in flight.
* :mod:`.session`: concurrency, bounded re-asks of replies that cannot be parsed, progress,
  and the usage (tokens, estimated cost) of the requests this run sent.
"""
