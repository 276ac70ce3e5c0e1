"""Networks and their checkpoint loaders: pure compute, no file or video I/O beyond loading weights."""
