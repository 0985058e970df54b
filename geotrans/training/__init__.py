"""Training the generator the pix2pix way, as ``geotrans tune`` does (and the repository's ``training/``
research entry points): ``train`` (the loop against a 70x70 PatchGAN, checkpoints), ``networks`` (the
discriminator), ``losses``, ``data`` and ``sources`` (pairs and labelled images drawn in the map style),
``report`` (loss curves and sample grids), ``scores`` (the hold-out's figures), ``tune`` (a fine-tune on a
user's scenes and labels). May import every layer but qgis and the CLI.
"""
