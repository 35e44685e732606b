"""absa_models.py -- the PyTorch twin of every absa model (the oracle's reference).

Module names, registration order and layouts match the C models exactly (src/engine/registry/models.c), so
`model.state_dict()` has the same names/shapes as the C state_dict table and
`torch.nn.utils.parameters_to_vector(model.parameters())` equals the C parameter arena.

    build_model(name, C, H, W, num_classes=10) -> nn.Module       name in MODEL_NAMES

The HDF5 checkpoint format shared with src/io/checkpoint.c (docs/checkpoints.md) is read and
written by absa_ckpt.py.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

MODEL_NAMES = ("mlp", "lenet", "c1", "resnet20")
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


class MLP(nn.Module):
    """Flatten, fc1 = Linear(C*H*W, 256), ReLU, fc2 = Linear(256, num_classes)."""

    def __init__(self, C, H, W, num_classes=10):
        super().__init__()
        self.fc1 = nn.Linear(C * H * W, 256)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class LeNet(nn.Module):
    """conv(C,32,3,p1) ReLU maxpool2; conv(32,64,3,p1) ReLU maxpool2; fc1 ->128 ReLU; fc2."""

    def __init__(self, C, H, W, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(C, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (H // 2 // 2) * (W // 2 // 2), 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def _pool32(n):
    """Spatial size after MaxPool2d(3, 2) (floor mode, no padding)."""
    return (n - 3) // 2 + 1


class C1(nn.Module):
    """HessianFlow's AlexNet-like c1: [conv5 p2, ReLU, BN, maxpool(3,2)] x2, fc 384, 192, 10."""

    def __init__(self, C, H, W, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(C, 64, 5, padding=2)
        self.bn1 = nn.BatchNorm2d(64, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, 5, padding=2)
        self.bn2 = nn.BatchNorm2d(64, eps=BN_EPS, momentum=BN_MOMENTUM)
        h, w = _pool32(_pool32(H)), _pool32(_pool32(W))
        self.fc1 = nn.Linear(64 * h * w, 384)
        self.fc2 = nn.Linear(384, 192)
        self.fc3 = nn.Linear(192, num_classes)

    def forward(self, x):
        x = F.max_pool2d(self.bn1(F.relu(self.conv1(x))), 3, 2)
        x = F.max_pool2d(self.bn2(F.relu(self.conv2(x))), 3, 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    """conv3x3(s) BN ReLU conv3x3 BN + shortcut, ReLU; option-B 1x1 projection shortcut."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes, eps=BN_EPS, momentum=BN_MOMENTUM))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """CIFAR ResNet-20 (6n+2, n=3): 16/32/64 channels, global average pool, linear."""

    def __init__(self, C, H, W, num_classes=10, n=3):
        super().__init__()
        self.conv1 = nn.Conv2d(C, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.in_planes = 16
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.linear = nn.Linear(64, num_classes)
        del self.in_planes
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight)  # He-normal (fan_in, ReLU gain)

    def _make_layer(self, planes, n, stride):
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1)
        return self.linear(torch.flatten(out, 1))


_CLASSES = {"mlp": MLP, "lenet": LeNet, "c1": C1, "resnet20": ResNet20}


def build_model(name, C, H, W, num_classes=10):
    """The torch twin of absa model `name` for C x H x W inputs (PyTorch default init)."""
    if name not in _CLASSES:
        raise ValueError("unknown model %r (known: %s)" % (name, ", ".join(MODEL_NAMES)))
    return _CLASSES[name](C, H, W, num_classes)


if __name__ == "__main__":
    for nm, shape in (("mlp", (1, 28, 28)), ("lenet", (1, 28, 28)), ("c1", (1, 28, 28)),
                      ("c1", (3, 32, 32)), ("resnet20", (3, 32, 32))):
        mdl = build_model(nm, *shape)
        nparam = sum(p.numel() for p in mdl.parameters())
        print("%-9s %-8s %8d parameters, %3d state_dict entries" %
              (nm, "x".join(map(str, shape)), nparam, len(mdl.state_dict())))
