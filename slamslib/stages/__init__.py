"""One function per stage: params in, files under results/<run>/<stage>/ out, summary.json last.

The notebooks call these and show what they return; `slams run <stage>` calls them directly."""
from .ablation import ablation
from .activation_maps import activation_maps
from .benchmark import benchmark
from .cam_visualization import cam_visualization
from .pseudo_labels import pseudo_labels
from .segmentation import segmentation
from .semantic_encoder import semantic_encoder

__all__ = ["benchmark", "semantic_encoder", "activation_maps", "cam_visualization", "pseudo_labels",
           "segmentation", "ablation"]
