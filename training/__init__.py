"""pix2pix training for geotrans: data readers, PatchGAN, training loop, evaluation, export.

The generator is ``geotrans.model.UnetGenerator``, imported, never copied.
"""
