"""The explanation methods Limelight knows, named once: their keys, titles and file-name parts."""

__all__ = ["METHOD_TITLES", "METHODS", "SUPERPIXEL_METHODS", "GRADIENT_METHODS", "NOISY_METHODS", "DEFAULT_NOISE",
           "BASELINES", "method_file_part"]

#: Each method's key (what requests, reports and --method say) and its title in the window and captions.
METHOD_TITLES = {"lime": "LIME", "kernelshap": "KernelSHAP", "rise": "RISE", "gradcam": "Grad-CAM",
                 "gradcam++": "Grad-CAM++", "hirescam": "HiResCAM", "layercam": "Layer-CAM", "scorecam": "Score-CAM",
                 "gradients": "Gradients", "smoothgrad": "SmoothGrad", "smoothgrad-squared": "SmoothGrad²",
                 "vargrad": "VarGrad", "integrated-gradients": "Integrated Gradients"}
#: The method keys, in the order menus list them.
METHODS = tuple(METHOD_TITLES)
#: The methods that weigh superpixels from perturbed copies on one prediction cache and make a
#: `LimeExplanation` (`limelight.core.lime`, `limelight.core.perturbation`).
SUPERPIXEL_METHODS = ("lime", "kernelshap", "rise")
#: The maps of the class score's gradient with respect to the pixels (`limelight.core.gradients`);
#: the rest of `METHODS` are class activation maps (`limelight.core.cam`).
GRADIENT_METHODS = ("gradients", "smoothgrad", "smoothgrad-squared", "vargrad", "integrated-gradients")
#: The gradient maps made from noisy copies of the image, whose noise and number of copies can be set.
NOISY_METHODS = ("smoothgrad", "smoothgrad-squared", "vargrad")
#: Their noise's standard deviation as a share of the input's range (Smilkov et al. recommend 0.1 to 0.2).
DEFAULT_NOISE = 0.15
#: Integrated Gradients' named baselines: a flat colour or the image blurred as LIME's hide="blur"
#: blurs it (an RGB tuple works too).
BASELINES = ("black", "blur", "white", "grey")
# File names avoid "+", which some tools and URLs treat specially: Grad-CAM++ files end in "_gradcampp".
_FILE_PARTS = {"gradcam++": "gradcampp"}


def method_file_part(method: str) -> str:
    """The method's key as it appears in file names: "gradcam++" is written "gradcampp"."""
    return _FILE_PARTS.get(method, method)
