"""Linear probes on frozen encoder features (chapter `foundation_model`).

A linear probe asks how much of a task a frozen encoder has already solved: a single 1x1 convolution (logistic
regression per token) is trained on the encoder's output grid to predict the tumour, and scored on held-out cases.
Labels are brought to the token grid by area: a token is tumour when more than half of its pixels are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from segment_anything.modeling import ImageEncoderViT
from torch.utils.data import Dataset

from sambook.data.modalities import MODALITIES


@torch.no_grad()
def token_features(
    encoder: ImageEncoderViT, dataset: Dataset, modality: str, batch_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen features (N, C, h, w) of one modality fed as a grey image, and tumour labels (N, h, w) on the token
    grid; the encoder runs on its own device, the features come back to the host."""
    channel = MODALITIES.index(modality)
    encoder.eval()
    device = next(encoder.parameters()).device
    features, labels = [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        grey = torch.stack([item["image"][channel : channel + 1] for item in items])
        grid = encoder(grey.expand(-1, 3, -1, -1).to(device)).cpu()
        tumour = torch.stack([(item["label"] > 0).float() for item in items])[:, None]
        features.append(grid)
        labels.append(F.adaptive_avg_pool2d(tumour, grid.shape[-2:])[:, 0] > 0.5)
    return torch.cat(features), torch.cat(labels).float()


def linear_probe(
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    *,
    steps: int = 300,
    lr: float = 1e-2,
    seed: int = 0,
) -> float:
    """Fit logistic regression per token on ``train`` (features standardised with the training statistics, full
    batch, Adam) and return the Dice (%) of its thresholded prediction over every test token."""
    x_train, y_train = train
    x_test, y_test = test
    mean = x_train.mean((0, 2, 3), keepdim=True)
    std = x_train.std((0, 2, 3), keepdim=True) + 1e-6
    torch.manual_seed(seed)
    linear = torch.nn.Conv2d(x_train.shape[1], 1, kernel_size=1)
    optimiser = torch.optim.Adam(linear.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(linear((x_train - mean) / std)[:, 0], y_train)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        predicted = (linear((x_test - mean) / std)[:, 0] > 0).float()
    overlap = 2 * (predicted * y_test).sum()
    return float(100 * overlap / (predicted.sum() + y_test.sum()).clamp(min=1))
