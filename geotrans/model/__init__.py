"""The model: the U-Net generator, its weights and card, its arithmetic, and the map style it draws in.

``generator`` (the network, shared by inference and training), ``weights`` (safetensors in and out, the
model card), ``precision`` (fp32, bf16, fp16), ``palette`` (the style's colours and snapping onto them),
``style`` (the map classes and their colours). Imports nothing of geotrans but ``errors``.
"""
