"""Files the application ships: ImageNet labels, sample photos, the demo model and icons."""
from importlib.resources import files


def resource_path(*parts: str):
    """Return a Traversable for a file shipped in limelight.resources."""
    return files(__name__).joinpath(*parts)
