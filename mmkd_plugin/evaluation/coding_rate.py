"""ReMem ("Mutual Information-Aware Fine-tuning of Pretrained ViTs for
Effective KD"): the Gaussian-channel MI estimate, the coding rate of
Ma et al. / Yu et al. (MCR^2, NeurIPS 2020).

``R(Z) = 1/2 logdet(I_d + d / (n eps^2) Z^T Z)`` for ``n`` samples of
``d``-dim features: the bits (nats) needed to code Z up to distortion eps,
an estimate of the MI between the input and Z. The class-conditional rate
``R_c(Z | y) = sum_j n_j / n * R(Z_j)`` (each class coded on its own, with
its own ``n_j``) is what Z carries beyond the label: dark knowledge.
"""
import torch
import torch.nn.functional as F


def _rate(z: torch.Tensor, eps: float, d: int) -> torch.Tensor:
    """``1/2 logdet(I + d/(n eps^2) Z^T Z)`` of ``z`` [n, d], through the
    smaller of the d x d and n x n Gram matrices (equal determinants)."""
    n = z.shape[0]
    scale = d / (n * eps**2)
    gram = z.T @ z if d <= n else z @ z.T  # [m, m], m = min(n, d)
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return 0.5 * torch.logdet(eye + scale * gram)


def _prepare(z: torch.Tensor, eps: float, normalize: bool) -> torch.Tensor:
    if z.dim() != 2 or z.shape[0] < 1:
        raise ValueError(f'features must be [n, d] with n >= 1, got '
                         f'{tuple(z.shape)}')
    if not eps > 0:
        raise ValueError(f'eps must be > 0, got {eps}')
    # fp32 at least (logdet in bf16 is meaningless), outside autocast
    z = z.double() if z.dtype == torch.float64 else z.float()
    return F.normalize(z, dim=1) if normalize else z


def coding_rate(z: torch.Tensor,
                eps: float = 0.5,
                normalize: bool = False) -> torch.Tensor:
    """``R(Z)`` of features ``z`` [n, d] (a scalar, differentiable).

    Args:
        eps: distortion; the rate grows as eps shrinks.
        normalize: L2-normalise each row first (scale-free; what the MI
            loss and the diagnostic use).
    """
    z = _prepare(z, eps, normalize)
    with torch.autocast(z.device.type, enabled=False):
        return _rate(z, eps, z.shape[1])


def class_conditional_coding_rate(z: torch.Tensor,
                                  labels: torch.Tensor,
                                  eps: float = 0.5,
                                  normalize: bool = False) -> torch.Tensor:
    """``R_c(Z | y) = sum_j n_j / n * R(Z_j)``, ``Z_j`` the rows of class
    j, each coded with its own ``n_j`` (MCR^2's compression term).

    Args:
        labels: [n] integer class of each row.
    """
    z = _prepare(z, eps, normalize)
    labels = labels.reshape(-1)
    if labels.shape[0] != z.shape[0]:
        raise ValueError(f'{labels.shape[0]} labels for {z.shape[0]} rows')
    n, d = z.shape
    total = z.new_zeros(())
    with torch.autocast(z.device.type, enabled=False):
        for cls in torch.unique(labels):
            rows = z[labels == cls]  # [n_j, d]
            total = total + rows.shape[0] / n * _rate(rows, eps, d)
    return total
