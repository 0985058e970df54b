"""Where and how the generator runs, as a user names it: light to import (no torch), for option parsing."""
DEVICES = ("auto", "cpu", "cuda")  # geotrans.run.runner.resolve_device turns one into a torch device
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # geotrans.model.precision.resolve_precision turns one into a Precision
