"""The tensor table of a wordlm model, mirrored from src/spec/tensors.cpp (the C++ table is the
source; tests/unit/test_spec.cpp checks this mirror against it for several configs). Every
script that names tensors takes the names, shapes and roles from here.

  param_specs(config)      -> [{"name", "role", "layer", "shape", "quantizable"}], state-dict order
  scale_name(name)         -> name + "_scale" (the scales of a quantized tensor)
  tied_decoder_copy(config)-> the separately quantized decoder a tied int8 model may carry
"""

SCALE_SUFFIX = "_scale"
QUANTIZABLE_ROLES = ("embedding", "weight_ih", "weight_hh", "decoder_weight")


def _spec(name, role, layer, shape):
    return {"name": name, "role": role, "layer": layer, "shape": list(shape), "quantizable": role in QUANTIZABLE_ROLES}


def param_specs(config):
    """config: a dict with vocab_size, emsize, nhid, nlayers, tied (a checkpoint's config)."""
    V, E, H, L = config["vocab_size"], config["emsize"], config["nhid"], config["nlayers"]
    out = [_spec("encoder.weight", "embedding", -1, [V, E])]
    for k in range(L):
        K = E if k == 0 else H
        out += [_spec(f"rnn.weight_ih_l{k}", "weight_ih", k, [4 * H, K]),
                _spec(f"rnn.weight_hh_l{k}", "weight_hh", k, [4 * H, H]),
                _spec(f"rnn.bias_ih_l{k}", "bias_ih", k, [4 * H]),
                _spec(f"rnn.bias_hh_l{k}", "bias_hh", k, [4 * H])]
    if not config["tied"]:
        out.append(_spec("decoder.weight", "decoder_weight", -1, [V, H]))
    out.append(_spec("decoder.bias", "decoder_bias", -1, [V]))
    return out


def names(config):
    return [s["name"] for s in param_specs(config)]


def scale_name(name):
    return name + SCALE_SUFFIX


def tied_decoder_copy(config):
    return _spec("decoder.weight", "decoder_weight", -1, [config["vocab_size"], config["nhid"]])


if __name__ == "__main__":
    # print the table of a config given as JSON on the command line (used by the mirror test)
    import json
    import sys
    cfgs = json.loads(sys.argv[1])
    print(json.dumps([{"config": c, "specs": param_specs(c), "tied_copy": tied_decoder_copy(c) if c["tied"] else None}
                      for c in cfgs]))
