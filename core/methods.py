"""The explanation methods Limelight knows, named once: their keys, titles and file-name parts."""

__all__ = ["METHOD_TITLES", "METHODS", "method_file_part"]

#: Each method's key (what requests, reports and --method say) and its title in the window and captions.
METHOD_TITLES = {"lime": "LIME", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM"}
#: The method keys, in the order menus list them.
METHODS = tuple(METHOD_TITLES)
# File names avoid "+", which some tools and URLs treat specially: Grad-CAM++ files end in "_gradcampp".
_FILE_PARTS = {"gradcam++": "gradcampp"}


def method_file_part(method: str) -> str:
    """The method's key as it appears in file names: "gradcam++" is written "gradcampp"."""
    return _FILE_PARTS.get(method, method)
