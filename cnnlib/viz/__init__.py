"""Seeing what a CNN has learned: filters, Gabor filters, activations, patches, embeddings,
occlusion and saliency.

Taught in chapter 13 ("What does a CNN learn?"), except ``conv_figures`` (chapter 1),
``histograms`` (chapter 4), ``schematics`` (chapters 11 and 12) and ``teaching`` (chapters 1,
3, 4, 9, 10, 11). One small module per idea, each usable on your own model:

- ``conv_figures`` the convolution drawn: cross-correlation, padding/stride, 1x1 convs, pooling
- ``histograms``  per-layer histograms of activations and their gradients
- ``schematics``  ADDA's three stages and CycleGAN's generators, discriminators and cycle
- ``teaching``    ideas drawn: stacked windows, dropout's scaling, what each norm averages over,
  plain vs residual block, what each transfer method trains, MCD's three steps

- ``filters``     first-layer weights drawn as a colour grid
- ``gabor``       skimage's arguments mapped to the Gabor equation, a likeness score, figures
- ``activations`` forward hooks: feature maps, sparsity per epoch, dead ReLU channels
- ``patches``     the data set patches that excite a unit most (Zeiler & Fergus)
- ``embedding``   penultimate-layer codes, t-SNE (scikit-learn), thumbnail maps
- ``attribution`` ``Saliency`` and ``Occlusion``, shaped like captum's
- ``architecture`` diagrams of a model's layers, branches and shortcuts (chapters 6-9)
"""
from .activations import (SparsityTracker, activations, channel_max, dead_channels, relu_layers,
                          show_feature_maps, sparsity)
from .architecture import diagram, draw_architecture
from .attribution import Occlusion, Saliency, TargetError, saliency_map
from .embedding import codes, plot_embedding, thumbnail_map, tsne
from .filters import colour_fraction, filter_grid, show_filters
from .gabor import (gabor, gabor_explorer, gabor_likeness, show_gabor_family, shuffle_pixels, skimage_args,
                    symbols_from_skimage, texture_energy)
from .patches import top_patches, show_top_patches
from .schematics import adda_stages, cyclegan_diagram
from .teaching import (batchnorm_axes, dropout_scaling, mcd_steps, plain_and_residual_block, stacked_windows,
                       thinned_networks, transfer_methods)

__all__ = [
    "diagram", "draw_architecture",
    "SparsityTracker", "activations", "channel_max", "dead_channels", "relu_layers",
    "show_feature_maps", "sparsity", "Occlusion", "Saliency", "TargetError", "saliency_map", "codes",
    "plot_embedding", "thumbnail_map", "tsne", "colour_fraction", "filter_grid", "show_filters", "gabor",
    "gabor_explorer", "gabor_likeness", "show_gabor_family", "shuffle_pixels",
    "skimage_args",
    "symbols_from_skimage", "texture_energy", "top_patches", "show_top_patches",
    "adda_stages", "cyclegan_diagram",
    "stacked_windows", "dropout_scaling", "thinned_networks", "batchnorm_axes", "plain_and_residual_block", "transfer_methods",
    "mcd_steps",
]
