"""``hadpo pairs``: HA-DPO preference data for a model of your own (the pipeline the release lacks).

describe (the model) -> detect and correct (the judge, against Visual Genome's annotations) ->
style-consistent rewrites (the judge) -> yes/no pairs -> ``desc_data.json`` / ``pope_data.json``
in the released formats, which ``hadpo train`` reads as they are.
"""
