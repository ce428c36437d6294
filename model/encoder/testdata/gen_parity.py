#!/usr/bin/python3
"""Generate the BERT parity fixture for model/encoder (run from anywhere):

    /usr/bin/python3 model/encoder/testdata/gen_parity.py

Needs only Debian's python3-torch (transformers and safetensors are not
available here), so this script carries its own reference implementation of
Hugging Face's BertTokenizer (basic + WordPiece) and BertModel forward pass,
written from the published algorithm in plain PyTorch. It writes, under
testdata/parity/:

  config.json, vocab.txt, tokenizer_config.json   HF layout, uncased
  model.safetensors      F32, BertModel names (no prefix)
  pytorch_model.bin      torch.save zip format, BertForMaskedLM-style names
                         ("bert." prefix, an MLM head and the position_ids
                         buffer that loaders must ignore)
  model_f16.safetensors  the same weights in F16 and BF16; reference outputs
  model_bf16.safetensors are computed from the rounded weights
  reference.json         sentences, token ids, CLS and mean-pooled outputs

Deterministic: a fixed seed, so the files reproduce byte for byte on the same
torch version.
"""
import collections
import json
import math
import os
import struct
import unicodedata

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "parity")
MAX_SEQ_LEN = 16  # truncation is exercised by the long sentence below

CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": 0,  # set from the vocabulary
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 32,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
}

VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + list(".,:;=/()[]-_#'\"")
    + [str(d) for d in range(10)]
    + """the a to of in and for is was block blk packet responder receiving
    received served served terminating exception error warn info from src dest
    datanode namenode size replica verification succeeded deleting file
    allocate allocateblock add stored storage system dfs data node
    cafe naive resume ip port user id""".split()
    + ["##s", "##ed", "##ing", "##er", "##tion", "##0", "##1", "##2", "##3", "##4",
       "##5", "##6", "##7", "##8", "##9", "##a", "##b", "##c", "##d", "##e", "##f",
       "##ock", "##ode", "##k"]
)

SENTENCES = [
    "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
    "PacketResponder 1 for block blk_38865049064139660 terminating",
    "Verification succeeded for blk_-4980916519894289629",
    "Exception in receiveBlock for block blk_7503483334202473044 java.io.IOException: Connection reset by peer",
    "Café naïve résumé:  DATANODE\tadded [SEP] tab\u00a0nbsp \u4e2d\u6587 z\u0301",
    "the",
    "",
]


# --- Reference BertTokenizer (transformers' BasicTokenizer + WordpieceTokenizer) ---

def is_whitespace(c):
    if c in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(c) == "Zs"


def is_control(c):
    if c in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(c) in ("Cc", "Cf")


def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def basic_tokenize(text, lower=True):
    out = []
    # Special tokens written literally stay whole (HF's added-token split).
    chunks, rest = [], text
    while rest:
        hits = [(rest.find(s), s) for s in SPECIALS if rest.find(s) >= 0]
        if not hits:
            chunks.append((rest, False))
            break
        i, s = min(hits)
        if i > 0:
            chunks.append((rest[:i], False))
        chunks.append((s, True))
        rest = rest[i + len(s):]
    for chunk, special in chunks:
        if special:
            out.append(chunk)
            continue
        cleaned = []
        for c in chunk:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or is_control(c):
                continue
            if is_whitespace(c):
                cleaned.append(" ")
            elif is_cjk(cp):
                cleaned += [" ", c, " "]
            else:
                cleaned.append(c)
        text2 = unicodedata.normalize("NFC", "".join(cleaned))
        for tok in text2.strip().split():
            if lower:
                tok = tok.lower()
                tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
            cur = []
            for c in tok:
                if is_punct(c):
                    if cur:
                        out.append("".join(cur))
                        cur = []
                    out.append(c)
                else:
                    cur.append(c)
            if cur:
                out.append("".join(cur))
    return out


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def encode(text, vocab):
    pieces = []
    for w in basic_tokenize(text):
        pieces += [w] if w in SPECIALS else wordpiece(w, vocab)
    pieces = pieces[: MAX_SEQ_LEN - 2]
    return [vocab["[CLS]"]] + [vocab[p] for p in pieces] + [vocab["[SEP]"]]


# --- Reference BertModel forward (HF modeling_bert, eval mode) ---

def bert_forward(sd, cfg, ids, mask):
    B, T = ids.shape
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = H // nh
    eps = cfg["layer_norm_eps"]
    x = (sd["embeddings.word_embeddings.weight"][ids]
         + sd["embeddings.position_embeddings.weight"][torch.arange(T)][None]
         + sd["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)])
    x = torch.nn.functional.layer_norm(x, (H,), sd["embeddings.LayerNorm.weight"], sd["embeddings.LayerNorm.bias"], eps)
    ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    lin = lambda t, n: torch.nn.functional.linear(t, sd[n + ".weight"], sd[n + ".bias"])
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        split = lambda t: t.view(B, T, nh, dh).permute(0, 2, 1, 3)
        q = split(lin(x, p + "attention.self.query"))
        k = split(lin(x, p + "attention.self.key"))
        v = split(lin(x, p + "attention.self.value"))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + ext
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, H)
        a = torch.nn.functional.layer_norm(lin(ctx, p + "attention.output.dense") + x, (H,),
                                           sd[p + "attention.output.LayerNorm.weight"],
                                           sd[p + "attention.output.LayerNorm.bias"], eps)
        f = torch.nn.functional.gelu(lin(a, p + "intermediate.dense"))  # exact erf GELU
        x = torch.nn.functional.layer_norm(lin(f, p + "output.dense") + a, (H,),
                                           sd[p + "output.LayerNorm.weight"], sd[p + "output.LayerNorm.bias"], eps)
    return x


def pooled(sd, cfg, batch_ids):
    T = max(len(i) for i in batch_ids)
    ids = torch.tensor([i + [0] * (T - len(i)) for i in batch_ids], dtype=torch.long)
    mask = torch.tensor([[1] * len(i) + [0] * (T - len(i)) for i in batch_ids], dtype=torch.long)
    with torch.no_grad():
        h = bert_forward(sd, cfg, ids, mask).double()
    m = mask[:, :, None].double()
    mean = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return h[:, 0].tolist(), mean.tolist()


# --- Writers ---

ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path, sd):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(sd):
        t = sd[name].contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: take the raw bits
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.manual_seed(20251125)
    os.makedirs(OUT, exist_ok=True)
    vocab_list = list(dict.fromkeys(VOCAB))
    vocab = {t: i for i, t in enumerate(vocab_list)}
    cfg = dict(CONFIG, vocab_size=len(vocab_list))
    H, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]

    # Random weights, larger than HF's init so that every term matters.
    sd = collections.OrderedDict()
    r = lambda *s: torch.randn(*s) * 0.5
    sd["embeddings.word_embeddings.weight"] = r(len(vocab_list), H)
    sd["embeddings.position_embeddings.weight"] = r(cfg["max_position_embeddings"], H)
    sd["embeddings.token_type_embeddings.weight"] = r(cfg["type_vocab_size"], H)
    sd["embeddings.LayerNorm.weight"] = 1 + r(H) * 0.2
    sd["embeddings.LayerNorm.bias"] = r(H) * 0.2
    for l in range(L):
        p = f"encoder.layer.{l}."
        for n, (o, i) in {"attention.self.query": (H, H), "attention.self.key": (H, H),
                          "attention.self.value": (H, H), "attention.output.dense": (H, H),
                          "intermediate.dense": (I, H), "output.dense": (H, I)}.items():
            sd[p + n + ".weight"] = r(o, i) / math.sqrt(i) * 2
            sd[p + n + ".bias"] = r(o) * 0.2
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            sd[p + n + ".weight"] = 1 + r(H) * 0.2
            sd[p + n + ".bias"] = r(H) * 0.2

    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(OUT, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab_list))
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f, indent=2)
        f.write("\n")

    write_safetensors(os.path.join(OUT, "model.safetensors"), sd)
    # A BertForMaskedLM-style pickle: prefixed names, a head and a buffer
    # that the loader must skip.
    bin_sd = collections.OrderedDict(("bert." + k, v) for k, v in sd.items())
    bin_sd["bert.embeddings.position_ids"] = torch.arange(cfg["max_position_embeddings"])[None]
    bin_sd["cls.predictions.bias"] = torch.zeros(len(vocab_list))
    bin_sd["cls.predictions.transform.dense.weight"] = r(H, H)
    # state_dict() carries _metadata, pickled as OrderedDict state (BUILD).
    bin_sd._metadata = collections.OrderedDict([("", {"version": 1}), ("bert", {"version": 1})])
    torch.save(bin_sd, os.path.join(OUT, "pytorch_model.bin"))

    ids = [encode(s, vocab) for s in SENTENCES]
    ref = {"max_seq_len": MAX_SEQ_LEN, "sentences": SENTENCES, "ids": ids, "outputs": {}}
    for tag, dtype in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
        low = collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items())
        if dtype != torch.float32:
            write_safetensors(os.path.join(OUT, f"model_{tag}.safetensors"), low)
        sd32 = {k: v.float() for k, v in low.items()}
        # One batch with all sentences (padding) and each sentence alone:
        # the encoder's output must not depend on its batch-mates.
        cls, mean = pooled(sd32, cfg, ids)
        ref["outputs"][tag] = {"cls": cls, "mean": mean}
    with open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", OUT, "torch", torch.__version__)


if __name__ == "__main__":
    main()
