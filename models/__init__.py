"""composer's shipped pretrained models, installed as the package ``composer_models``.

Each model is one ``NAME.safetensors`` file with its card ``NAME.md`` beside it.
``originality_index.npz`` indexes their training data (the train split of the
bundled corpus) for ``composer originality``; ``benchmarks/build_originality_index.py``
rebuilds it.
"""
