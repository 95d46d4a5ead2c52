"""Networks: encoders for small images, a ResNet-18 for small images, a convolutional autoencoder,
projection and clustering heads.

Taught in notebook 02_feature_learning (the encoders, the autoencoder and SimCLR's projection head)
and used by the deep clustering methods of notebook 03_clustering_classification (the clustering
head, the autoencoder's encoder). The per-pixel networks of notebook 04_pixel_segmentation are
defined next to the segmentation methods that train them, not here.

Every encoder maps images ``(N, C, H, W)`` to feature vectors ``(N, out_dim)`` and exposes
``out_dim``, so heads can be stacked on any of them with :class:`EncoderWithHead`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name: one of ``relu, leaky_relu, gelu, silu, elu, tanh``."""
    try:
        return ACTIVATIONS[name.lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def _conv_bn_act(c_in: int, c_out: int, activation: str, stride: int = 1) -> list[nn.Module]:
    # No conv bias: the batch norm right after it has its own shift.
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            make_activation(activation)]


ATTENTIONS = (None, "se")
"""Accepted values of ``ConvEncoder(attention=...)``: no attention, or :class:`SqueezeExcite`."""


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al., 2018).

    Each channel of a feature map is rescaled by a weight in (0, 1) computed from the whole map: global
    average pooling ("squeeze") gives one number per channel, two linear layers with a ReLU between
    them and a sigmoid ("excitation") turn them into the channel weights:

    .. math:: s = \\sigma\\big(W_2\\, \\mathrm{ReLU}(W_1\\, \\bar x)\\big), \\qquad
              y_{c, i, j} = s_c \\, x_{c, i, j}, \\qquad \\bar x_c = \\frac{1}{HW}\\sum_{i, j} x_{c, i, j}

    with :math:`W_1` of shape ``(channels // reduction, channels)`` and :math:`W_2` its way back. A
    channel that matters for this image (a stroke direction present in this digit) is kept, the
    others damped: the attention is over *which features*, not *where*.

    Parameters
    ----------
    channels : int
        Channels of the maps it rescales.
    reduction : int
        Bottleneck ratio of the two linear layers (at least 1 hidden unit is kept).

    Shapes
    ------
    ``(N, channels, H, W)`` → the same shape.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"channels and reduction must be positive, got {channels}, {reduction}")
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, hidden),
                                  nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SqueezeExcite({self.channels}) takes (N, {self.channels}, H, W) maps, "
                             f"got {tuple(x.shape)}")
        return x * self.gate(x)[:, :, None, None]


def check_attention(attention: str | None) -> None:
    """Raise ``ValueError`` unless ``attention`` is one of :data:`ATTENTIONS`."""
    if attention not in ATTENTIONS:
        raise ValueError(f"unknown attention {attention!r}; use None (no attention) or 'se' "
                         f"(squeeze-and-excitation)")


class ConvEncoder(nn.Module):
    """A small CNN for 8–32 pixel images: ``depth`` stages of two 3×3 conv-BN-activation layers,
    a 2×2 max-pool between stages, global average pooling, then an optional linear layer.

    Channels double at each stage (``width``, ``2 width``, ...). Pooling rounds up, so any depth
    works on any size (an 8×8 image is 1×1 after three pools and stays 1×1).

    Parameters
    ----------
    in_channels : int
        1 for grey images, 3 for RGB.
    depth : int
        Number of stages (1–6); 3 suits 8–32 pixel images.
    width : int
        Channels of the first stage.
    activation : str
        See :func:`make_activation`.
    out_dim : int or None
        Size of the output features; None keeps the pooled features (``width * 2**(depth-1)``).
    attention : {None, "se"}
        "se": a :class:`SqueezeExcite` block (reduction 4) after each stage, which reweights the stage's
        channels per image (about ``width**2 * 4**depth / 6`` more weights, a few percent).

    Shapes
    ------
    input ``(N, in_channels, H, W)`` float; output ``(N, out_dim)``.
    """

    def __init__(self, in_channels: int = 1, depth: int = 3, width: int = 32, activation: str = "relu",
                 out_dim: int | None = None, attention: str | None = None):
        super().__init__()
        if not 1 <= depth <= 6:
            raise ValueError(f"depth must be between 1 and 6, got {depth}")
        if in_channels < 1 or width < 1:
            raise ValueError(f"in_channels and width must be positive, got {in_channels}, {width}")
        check_attention(attention)
        layers: list[nn.Module] = []
        c_in = in_channels
        for stage in range(depth):
            c_out = width * 2**stage
            if stage > 0:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            layers += _conv_bn_act(c_in, c_out, activation) + _conv_bn_act(c_out, c_out, activation)
            if attention == "se":
                layers.append(SqueezeExcite(c_out))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, out_dim) if out_dim is not None else nn.Identity()
        self.in_channels = in_channels
        self.attention = attention
        self.out_dim = out_dim if out_dim is not None else c_in

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's maps before pooling, ``(N, width * 2**(depth-1), H', W')``."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def _resnet_state_dict(weights) -> tuple[dict, str]:
    """The state dict named by ``weights`` ("DEFAULT", a ``ResNet18_Weights`` name, a file) and its source."""
    from pathlib import Path

    from torchvision.models import ResNet18_Weights

    name = str(weights)
    if isinstance(weights, ResNet18_Weights) or name in ("DEFAULT", *ResNet18_Weights.__members__):
        enum = ResNet18_Weights.verify(weights)
        try:
            return enum.get_state_dict(progress=False, check_hash=True), f"torchvision {enum}"
        except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash a RuntimeError
            raise RuntimeError(
                f"could not download torchvision's ImageNet ResNet-18 weights ({err}). Offline? Use "
                f"weights=None (formerly pretrained=False) for random weights, or download {enum.url} on a "
                f"connected machine and put it in {torch.hub.get_dir()}/checkpoints/ (found there next "
                f"time), or pass its path: resnet18_small(weights='/path/to/{Path(enum.url).name}')"
            ) from err
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}: weights must be None, 'DEFAULT' (torchvision's "
                                "ImageNet weights) or a ResNet-18 state dict's path (.pth, .safetensors)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path)
    else:  # weights_only: a .pth file cannot run code when loaded
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "conv1.weight" not in state:
        raise ValueError(f"{path} holds no ResNet-18 state dict (no 'conv1.weight'); save one with "
                         "torch.save(torchvision.models.resnet18(...).state_dict(), path)")
    return state, str(path)


def _area_weights(k: int, n: int = 3) -> torch.Tensor:
    """(n, k) weights resampling k taps to n by area: output tap i covers input taps [i k/n, (i+1) k/n],
    the partial ones by their overlap. Each column sums to 1 (every input tap is shared out in full),
    so a filter resampled on both axes keeps its sum."""
    edges = torch.arange(n + 1, dtype=torch.float32) * k / n
    taps = torch.arange(k, dtype=torch.float32)
    return (torch.minimum(edges[1:, None], taps + 1) - torch.maximum(edges[:-1, None], taps)).clamp(min=0)


def _adapt_stem(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """A (64, C, k, k) stem filter bank as the small stem's (64, in_channels, 3, 3) one.

    The k×k filters are resampled to 3×3 by area, so each keeps its sum (its response to a flat
    patch). For ``in_channels`` != C the filters are averaged over their channels and copied to
    each new one, scaled by C / in_channels: a grey image then gives the response the original stem
    gives to the same image copied into the C channels.
    """
    w = weight.float()
    if w.shape[-2:] != (3, 3):
        w = _area_weights(w.shape[-2]) @ w @ _area_weights(w.shape[-1]).T
    if w.shape[1] != in_channels:
        w = w.mean(1, keepdim=True).repeat(1, in_channels, 1, 1) * (w.shape[1] / in_channels)
    return w


def resnet18_small(in_channels: int = 3, weights=None, out_dim: int | None = None, *,
                   pretrained: bool | None = None) -> nn.Module:
    """torchvision's ResNet-18 adapted to 8–32 pixel images (as in SimCLR's CIFAR experiments).

    The 7×7 stride-2 stem becomes a 3×3 stride-1 convolution and the first max-pool is removed, so
    a 32×32 image keeps a 4×4 map in the last stage instead of 1×1 (28×28: 4×4; 8×8: 1×1). The
    classifier is replaced by the identity (or a linear layer to ``out_dim``): the output is
    ``(N, 512)`` features.

    Parameters
    ----------
    in_channels : int
        Image channels (the stem takes them directly, so grey images need no copying to RGB).
    weights : None, "DEFAULT" or path
        None: random weights (from torch's global generator). "DEFAULT" (or another
        ``torchvision.models.ResNet18_Weights`` name): torchvision's ImageNet weights, downloaded once
        into the torch hub cache (``torch.hub.get_dir()/checkpoints``). A path: a ResNet-18 state dict
        saved locally, ``.pth`` (read with ``torch.load(weights_only=True)``) or ``.safetensors``.
        What is kept: every layer after the stem (``bn1``, ``layer1``–``layer4``) exactly. The stem is
        adapted: the 7×7 ImageNet filters are shrunk to 3×3 (area average, sums kept) and, when
        ``in_channels`` != 3, averaged over RGB (grey input: the mean filter, times 3); a stem already
        of the small shape is loaded as it is. The classifier is dropped (``fc`` is loaded only when
        its shape matches ``out_dim``). ImageNet weights expect inputs normalised with ImageNet's mean
        and standard deviation; the library passes images in [0, 1], so fine-tune before trusting them.
    out_dim : int or None
        Optional linear projection of the 512 features.
    pretrained : bool, optional
        Deprecated alias: True means ``weights="DEFAULT"``, False ``weights=None``.

    Returns
    -------
    torchvision ``ResNet`` with ``out_dim`` and ``in_channels`` attributes: ``(N, in_channels, H, W)``
    -> ``(N, out_dim)``.

    Raises
    ------
    RuntimeError
        The ImageNet weights cannot be downloaded (the message says where to put the file offline,
        and how to pass its path).
    FileNotFoundError, ValueError
        ``weights`` is a path to no file, or to a file that holds no ResNet-18 state dict.
    """
    from torchvision.models import resnet18

    if pretrained is not None:
        import warnings

        warnings.warn("resnet18_small(pretrained=...) is deprecated; use weights='DEFAULT' or weights=None",
                      DeprecationWarning, stacklevel=2)
        weights = weights if weights is not None else ("DEFAULT" if pretrained else None)
    state, source = _resnet_state_dict(weights) if weights is not None else ({}, "")
    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Linear(512, out_dim) if out_dim is not None else nn.Identity()
    if state:
        state = dict(state)
        state["conv1.weight"] = _adapt_stem(state["conv1.weight"], in_channels)
        own = net.state_dict()
        for key in ("fc.weight", "fc.bias"):  # ImageNet's 1000 classes are not ours
            if key in state and (key not in own or own[key].shape != state[key].shape):
                del state[key]
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("fc.") and "num_batches" not in k]
        if missing or unexpected:
            raise ValueError(f"{source} is not a ResNet-18 state dict: missing {missing[:4]}, "
                             f"unexpected {unexpected[:4]} (of {len(missing)} and {len(unexpected)})")
    net.out_dim = out_dim if out_dim is not None else 512
    net.in_channels = in_channels
    return net


def build_encoder(name: str = "cnn", in_channels: int = 1, **kwargs) -> nn.Module:
    """An encoder by name: ``"cnn"`` (:class:`ConvEncoder`, kwargs depth/width/activation/out_dim)
    or ``"resnet18"`` (:func:`resnet18_small`, kwargs weights/out_dim)."""
    if name == "cnn":
        return ConvEncoder(in_channels, **kwargs)
    if name == "resnet18":
        return resnet18_small(in_channels, **kwargs)
    raise ValueError(f"unknown encoder {name!r}; use 'cnn' or 'resnet18'")


def _downsampled_sizes(size: int, depth: int) -> list[int]:
    # A 3x3, stride-2, padding-1 convolution maps s to ceil(s / 2).
    sizes = [size]
    for _ in range(depth):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


class ConvAutoencoder(nn.Module):
    """A convolutional autoencoder for small images (8×8 digits, 28×28 MNIST, 32×32 RGB).

    Encoder: ``depth`` stride-2 conv-BN-activation layers, then a linear layer to a ``latent_dim``
    code. Decoder: the mirror image with transposed convolutions back to the exact input size, and
    a sigmoid so reconstructions lie in [0, 1] like the inputs.

    Parameters
    ----------
    in_channels : int
        1 or 3.
    image_size : int or (int, int)
        Input height and width (any size; odd sizes are handled exactly).
    latent_dim : int
        Size of the code ``z``.
    width : int
        Channels of the first layer (doubling at each layer).
    depth : int
        Number of stride-2 layers; the default adapts to the size (1 for 8×8, 2 for 28×28 and up).
    activation : str
        See :func:`make_activation`.

    Shapes
    ------
    ``forward``: ``(N, C, H, W)`` float in [0, 1] → reconstruction of the same shape, in (0, 1).
    ``encode``: → ``(N, latent_dim)``. ``decode``: ``(N, latent_dim)`` → ``(N, C, H, W)``.
    """

    def __init__(self, in_channels: int = 1, image_size: int | Sequence[int] = 28, latent_dim: int = 32,
                 width: int = 32, depth: int | None = None, activation: str = "relu"):
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if min(h, w) < 4:
            raise ValueError(f"image_size must be at least 4 pixels, got {(h, w)}")
        depth = depth if depth is not None else (1 if min(h, w) <= 12 else 2)
        self.hs, self.ws = _downsampled_sizes(h, depth), _downsampled_sizes(w, depth)
        channels = [in_channels] + [width * 2**i for i in range(depth)]
        enc: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            enc += _conv_bn_act(c_in, c_out, activation, stride=2)
        self.encoder_conv = nn.Sequential(*enc)
        flat = channels[-1] * self.hs[-1] * self.ws[-1]
        self.to_latent = nn.Linear(flat, latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, flat), make_activation(activation))
        self.up = nn.ModuleList()
        self.up_post = nn.ModuleList()
        for i in range(depth, 0, -1):
            # The last upsampling keeps `width` channels; a final conv then maps to the image channels.
            c_out = channels[i - 1] if i > 1 else channels[1]
            self.up.append(nn.ConvTranspose2d(channels[i], c_out, 3, stride=2, padding=1))
            self.up_post.append(nn.Sequential(nn.BatchNorm2d(c_out), make_activation(activation)))
        self.out_conv = nn.Conv2d(channels[1], in_channels, 3, padding=1)
        self.in_channels, self.image_size, self.latent_dim = in_channels, (h, w), latent_dim
        self.out_dim = latent_dim
        self._bottleneck = (channels[-1], self.hs[-1], self.ws[-1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, latent_dim)`` of images ``(N, C, H, W)``."""
        if tuple(x.shape[-2:]) != self.image_size or x.shape[1] != self.in_channels:
            raise ValueError(f"this autoencoder takes (N, {self.in_channels}, {self.image_size[0]}, "
                             f"{self.image_size[1]}) images, got {tuple(x.shape)}")
        return self.to_latent(self.encoder_conv(x).flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, H, W)`` in (0, 1) from codes ``(N, latent_dim)``."""
        x = self.from_latent(z).view(-1, *self._bottleneck)
        depth = len(self.up)
        for i, (up, post) in enumerate(zip(self.up, self.up_post, strict=True)):
            # output_size resolves the transposed convolution's ambiguity for odd sizes (7 -> 14 -> 28).
            x = post(up(x, output_size=(self.hs[depth - 1 - i], self.ws[depth - 1 - i])))
        return torch.sigmoid(self.out_conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class AutoencoderEncoder(nn.Module):
    """The encoder half of a :class:`ConvAutoencoder` as a stand-alone encoder (``out_dim`` = latent)."""

    def __init__(self, autoencoder: ConvAutoencoder):
        super().__init__()
        self.autoencoder = autoencoder
        self.out_dim = autoencoder.latent_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(x)


class ProjectionHead(nn.Module):
    """An MLP mapping features to the space where a contrastive loss is computed (SimCLR's g).

    ``layers`` Linear layers with batch norm and ReLU between them; the output is not normalised
    (the loss does that).

    Shapes
    ------
    ``(N, in_dim)`` → ``(N, out_dim)``.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 256, out_dim: int = 64, layers: int = 2):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        blocks: list[nn.Module] = []
        d = in_dim
        for _ in range(layers - 1):
            blocks += [nn.Linear(d, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU()]
            d = hidden_dim
        blocks.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*blocks)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ClusteringHead(nn.Module):
    """Linear layers giving cluster logits; softmax of them is the soft assignment ``p(k | x)``.

    Several heads share the same input (SCAN trains several and keeps the best; IIC adds
    over-clustering heads with more clusters than classes).

    Parameters
    ----------
    in_dim : int
        Feature size.
    n_clusters : int or sequence of int
        Clusters of each head; an int with ``n_heads`` > 1 repeats it.
    n_heads : int
        Number of heads when ``n_clusters`` is an int.

    Shapes
    ------
    ``forward``: ``(N, in_dim)`` → logits ``(N, k)`` with one head, else a list of ``(N, k_h)``.
    ``probs``: the same after a softmax (rows sum to 1).
    """

    def __init__(self, in_dim: int, n_clusters: int | Sequence[int] = 10, n_heads: int = 1):
        super().__init__()
        sizes = [int(n_clusters)] * n_heads if isinstance(n_clusters, int) else [int(k) for k in n_clusters]
        if not sizes or min(sizes) < 2:
            raise ValueError(f"every head needs at least 2 clusters, got {sizes}")
        self.heads = nn.ModuleList(nn.Linear(in_dim, k) for k in sizes)
        self.n_clusters = sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        logits = [head(x) for head in self.heads]
        return logits[0] if len(logits) == 1 else logits

    def probs(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Soft cluster assignments (softmax of the logits)."""
        out = self(x)
        return out.softmax(-1) if isinstance(out, torch.Tensor) else [o.softmax(-1) for o in out]


class EncoderWithHead(nn.Module):
    """``head(encoder(x))``: SimCLR's encoder + projection, or an encoder + clustering head.

    ``forward`` runs both (so ``train.fit`` and DDP see one module); ``features`` runs the encoder only.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features ``(N, encoder.out_dim)``."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor):
        return self.head(self.encoder(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
