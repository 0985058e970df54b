"""One run of one scene: decide it (``options``, ``plan``), then execute it (``pipeline``: ``runner``
batches windows through the generator, on a ``background`` reader; ``mosaic`` blends them), and describe
it (``info``, ``preview``). May import the model and reading and writing; never jobs, vectors or the CLI.
"""
