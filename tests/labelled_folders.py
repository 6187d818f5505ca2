"""Labelled image folders written by the tests, in the layout of Keras' image_dataset_from_directory."""
from pathlib import Path

import numpy as np
from PIL import Image

from limelight.core.demo import CLASS_NAMES, make_pair_scene, make_scene

#: Fashion-MNIST's classes; sorted, they are not in the model's index order.
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot")


def shape_scenes(root, *, per_class=4, hard_per_class=2, random_state=0) -> Path:
    """The demo model's scenes, one folder per shape, plus hard ones filed under their left object.

    A hard scene holds two shapes side by side, so the model often names the other one: the
    dataset has wrong predictions whose truth is known.
    """
    rng = np.random.default_rng(random_state)
    root = Path(root)
    for label, name in enumerate(CLASS_NAMES):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(make_scene(rng, label=label).image).save(folder / f"easy_{i}.png")
        for i in range(hard_per_class):
            other = (label + 1 + i) % len(CLASS_NAMES)
            Image.fromarray(make_pair_scene(rng, (label, other)).image).save(folder / f"hard_{i}.png")
    return root


def fashion_folder(root, *, per_class=2, random_state=0) -> Path:
    """28x28 grayscale images in folders named after Fashion-MNIST's classes ('/' written as '_')."""
    rng = np.random.default_rng(random_state)
    root = Path(root)
    for label, name in enumerate(FASHION_CLASSES):
        folder = root / name.replace("/", "_")
        folder.mkdir(parents=True)
        for i in range(per_class):
            gray = rng.integers(0, 256, (28, 28), dtype=np.uint8)
            gray[4 + label: 10 + label, 6:22] = 255  # each class its own bar, so the images differ
            Image.fromarray(gray).save(folder / f"{i}.png")
    return root
