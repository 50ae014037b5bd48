"""pytorch/examples word_language_model's RNNModel (LSTM branch) and its initialisation, shared by
the PyTorch-side scripts (import, golden fixtures, training and inference comparisons)."""


def rnn_model_class(torch):
    nn = torch.nn

    class RNNModel(nn.Module):
        """pytorch/examples word_language_model/model.py RNNModel (LSTM branch), for unpickling."""

        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
            super().__init__()
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)
            if tie_weights:
                self.decoder.weight = self.encoder.weight
            self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output).view(-1, self.ntoken)
            return torch.nn.functional.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            w = next(self.parameters())
            return (w.new_zeros(self.nlayers, bsz, self.nhid), w.new_zeros(self.nlayers, bsz, self.nhid))

    # pickles of pytorch/examples models name the class model.RNNModel
    RNNModel.__module__, RNNModel.__qualname__ = "model", "RNNModel"
    return RNNModel


def init_like_examples(model):
    """RNNModel.init_weights: encoder and decoder U(-0.1, 0.1), decoder bias 0 (LSTM: PyTorch's default)."""
    model.encoder.weight.data.uniform_(-0.1, 0.1)
    model.decoder.bias.data.zero_()
    model.decoder.weight.data.uniform_(-0.1, 0.1)
    return model
