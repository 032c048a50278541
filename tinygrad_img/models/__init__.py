"""Model zoo (``tg.models``): AlexNet, ResNet-18/34, VGG-11, MobileNet v1, Inception (GoogLeNet) modules,
U-Net and (variational) autoencoders, as ``tg.nn`` Modules on NCHW images with torchvision's parameter names where
torchvision has the model."""
from .alexnet import AlexNet, alexnet
from .autoencoder import VAE, ConvAutoencoder, gaussian_kl, vae_loss
from .inception import BasicConv2d, InceptionModule, InceptionNet, inception_net
from .mobilenet import DepthwiseSeparable, MobileNetV1, mobilenet_v1
from .resnet import BasicBlock, ResNet, resnet18, resnet34
from .unet import DoubleConv, UNet
from .vgg import VGG, vgg11

__all__ = ["VAE", "VGG", "AlexNet", "BasicBlock", "BasicConv2d", "ConvAutoencoder", "DepthwiseSeparable", "DoubleConv",
           "InceptionModule", "InceptionNet", "MobileNetV1", "ResNet", "UNet", "alexnet", "gaussian_kl",
           "inception_net", "mobilenet_v1", "resnet18", "resnet34", "vae_loss", "vgg11"]
