"""Layers Keras 3 does not have: max pooling that returns its positions, max
unpooling, tied transposed convolution, a variational autoencoder's sampling
step, and cropping to another map."""

from cae_keras.layers.crop_like import CropLike
from cae_keras.layers.max_pooling_with_positions2d import MaxPoolingWithPositions2D
from cae_keras.layers.max_unpooling2d import MaxUnpooling2D
from cae_keras.layers.tied_conv2d_transpose import TiedConv2DTranspose
from cae_keras.layers.variational_sampling import VariationalSampling, kl_to_standard_normal

__all__ = [
    "CropLike",
    "MaxPoolingWithPositions2D",
    "MaxUnpooling2D",
    "TiedConv2DTranspose",
    "VariationalSampling",
    "kl_to_standard_normal",
]
