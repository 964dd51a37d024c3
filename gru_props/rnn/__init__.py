"""The tanh RNN (Elman network): parameters, a fast forward and backward, and a readable tier.

PyTorch's ``torch.nn.RNN`` (``nonlinearity="tanh"``) in the row-vector
convention of the GRU and the LSTM (see ``gru_props.rnn.level1`` for the math,
line by line)::

    h_t = tanh(x_t W + h_{t-1} U + b)

``rnn_forward`` and ``rnn_backward`` here are the fast ones
(``gru_props.rnn.level3``), as for the GRU and the LSTM;
``gru_props.rnn.level1`` holds the readable versions they are tested against.
It is the ungated baseline of the parameter-efficiency study (Chung et al.
2014 compare tanh units, GRU and LSTM at equal parameter counts).
"""

from gru_props.rnn._params import RNNParams
from gru_props.rnn.level3 import RNNCache, rnn_backward, rnn_forward

__all__ = ["RNNParams", "RNNCache", "rnn_forward", "rnn_backward"]
