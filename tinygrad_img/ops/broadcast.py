"""The one helper every broadcasting op uses to send gradients back to its inputs."""


def sum_to(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``shape``.

    If ``x`` of ``shape`` was broadcast to ``g.shape`` in the forward pass, the
    gradient of ``x`` is the sum of ``g`` over every broadcast copy.
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and g.shape[lead + i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)
