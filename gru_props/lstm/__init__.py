"""The LSTM: parameters, a fast forward and backward, and a readable tier.

PyTorch's equations in the row-vector convention of the GRU (see
``gru_props.lstm.level1`` for the math, line by line)::

    i = sigmoid(x_t W_i + h U_i + b_i)    f = sigmoid(x_t W_f + h U_f + b_f)
    g = tanh(x_t W_g + h U_g + b_g)       o = sigmoid(x_t W_o + h U_o + b_o)
    c_t = f * c_{t-1} + i * g             h_t = o * tanh(c_t)

``lstm_forward`` and ``lstm_backward`` here are the fast ones
(``gru_props.lstm.level3``), as the GRU's top level is its Level 3;
``gru_props.lstm.level1`` holds the readable versions they are tested against.
"""

from gru_props.lstm._params import LSTMParams
from gru_props.lstm.level3 import LSTMCache, lstm_backward, lstm_forward

__all__ = ["LSTMParams", "LSTMCache", "lstm_forward", "lstm_backward"]
