"""composer's shipped pretrained models, installed as the package ``composer_models``.

Each model is one ``NAME.safetensors`` file with its card ``NAME.md`` beside it.
"""
