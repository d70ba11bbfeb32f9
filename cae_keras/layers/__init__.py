"""Layers Keras 3 does not have: max unpooling and tied transposed convolution."""

from cae_keras.layers.max_unpooling2d import MaxUnpooling2D
from cae_keras.layers.tied_conv2d_transpose import TiedConv2DTranspose

__all__ = ["MaxUnpooling2D", "TiedConv2DTranspose"]
