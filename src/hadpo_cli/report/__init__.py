"""`hadpo report`: one self-contained HTML page from training and evaluation outputs."""
