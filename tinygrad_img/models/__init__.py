"""Model zoo (``tg.models``): ResNet-18/34, VGG-11, MobileNet v1, U-Net and (variational)
autoencoders, as ``tg.nn`` Modules on NCHW images with torchvision's parameter names where
torchvision has the model."""
from .autoencoder import VAE, ConvAutoencoder, gaussian_kl, vae_loss
from .mobilenet import DepthwiseSeparable, MobileNetV1, mobilenet_v1
from .resnet import BasicBlock, ResNet, resnet18, resnet34
from .unet import DoubleConv, UNet
from .vgg import VGG, vgg11

__all__ = ["VAE", "VGG", "BasicBlock", "ConvAutoencoder", "DepthwiseSeparable", "DoubleConv", "MobileNetV1",
           "ResNet", "UNet", "gaussian_kl", "mobilenet_v1", "resnet18", "resnet34", "vae_loss", "vgg11"]
