"""Word-level BERT-style tokenizer, written out as a Hugging Face tokenizer.json.

Python reproduces exactly what the tokenizers library / transformers.js do with
BertNormalizer(clean_text, handle_chinese_chars, strip_accents=None, lowercase) +
BertPreTokenizer + WordLevel: Chinese characters and punctuation become single tokens,
everything is lowercased, unknown words map to [UNK]. No special tokens are added, so the
empty string is all [PAD] with an all-zero attention mask (the unconditional prompt).
"""
import json
import unicodedata

from . import world

PAD, UNK = "[PAD]", "[UNK]"
MAX_LENGTH = 32


def _is_chinese(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def normalize(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_chinese(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = "".join(out)
    text = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return text.lower()


def pre_tokenize(text):
    words = []
    for chunk in text.split():
        cur = ""
        for ch in chunk:
            if _is_punct(ch):
                if cur:
                    words.append(cur)
                    cur = ""
                words.append(ch)
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def build_vocab():
    words = set()
    for table in (world.EN_COLOR, world.EN_SHAPE, world.EN_MOTION, world.EN_BG):
        for forms in table.values():
            for f in forms:
                words.update(pre_tokenize(normalize(f)))
    words.update(["a", "an", "the", "one", "on", "against", "with", "that", "is", "background",
                  ",", ".", "，", "。"])
    for table in (world.ZH_COLOR, world.ZH_SHAPE, world.ZH_MOTION, world.ZH_BG):
        for forms in table.values():
            for f in forms:
                words.update(pre_tokenize(normalize(f)))
    words.update(pre_tokenize(normalize("背景上一个的在正在有")))
    en = sorted(w for w in words if w.isascii())
    zh = sorted(w for w in words if not w.isascii())
    vocab = {PAD: 0, UNK: 1}
    for w in en + zh:
        vocab[w] = len(vocab)
    return vocab


class Tokenizer:
    def __init__(self, vocab=None, max_length=MAX_LENGTH):
        self.vocab = vocab or build_vocab()
        self.max_length = max_length

    def tokens(self, text):
        return pre_tokenize(normalize(text))

    def encode(self, text):
        ids = [self.vocab.get(w, 1) for w in self.tokens(text)][: self.max_length]
        mask = [1] * len(ids) + [0] * (self.max_length - len(ids))
        return ids + [0] * (self.max_length - len(ids)), mask

    def tokenizer_json(self):
        return {
            "version": "1.0",
            "truncation": {"direction": "Right", "max_length": self.max_length, "strategy": "LongestFirst", "stride": 0},
            "padding": {"strategy": {"Fixed": self.max_length}, "direction": "Right", "pad_to_multiple_of": None,
                        "pad_id": 0, "pad_type_id": 0, "pad_token": PAD},
            "added_tokens": [
                {"id": 0, "content": PAD, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
                {"id": 1, "content": UNK, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
            ],
            "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                           "strip_accents": None, "lowercase": True},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": None,
            "decoder": None,
            "model": {"type": "WordLevel", "vocab": self.vocab, "unk_token": UNK},
        }

    def tokenizer_config_json(self):
        return {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": self.max_length,
            "pad_token": PAD,
            "unk_token": UNK,
            "padding_side": "right",
            "truncation_side": "right",
            "do_lower_case": True,
            "clean_up_tokenization_spaces": False,
        }

    def save(self, folder):
        with open(f"{folder}/tokenizer.json", "w", encoding="utf-8") as f:
            json.dump(self.tokenizer_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")
        with open(f"{folder}/tokenizer_config.json", "w", encoding="utf-8") as f:
            json.dump(self.tokenizer_config_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")
