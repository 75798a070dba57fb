import os

# No Hugging Face Hub here: every model the tests use is built offline by the package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# tests/results_fixtures.py (evaluation outputs in the tool's formats) is shared by the unit and
# integration tests of `hadpo compare` / `hadpo report`.
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
