"""SAM core: builders at any size, prompt-free decoding, checkpoint download/verification/loading."""

from __future__ import annotations

import hashlib

import pytest
import torch

from sambook.errors import CheckpointError
from sambook.models import checkpoint as ckpt
from sambook.models.prompt_free import PromptFreeDecoder
from sambook.models.sam_core import SAM_CONFIGS, build_sam


@pytest.mark.parametrize("size", [32, 64, 128])
def test_mini_encoder_shapes(size):
    sam = build_sam("mini", image_size=size)
    out = sam.image_encoder(torch.randn(2, 3, size, size))
    assert out.shape == (2, 64, size // 8, size // 8)


def test_vit_b_token_grid_at_256():
    with torch.device("meta"):
        sam = build_sam("vit_b", image_size=256)
        assert sam.image_encoder(torch.randn(1, 3, 256, 256)).shape == (1, 256, 16, 16)
    assert sam.image_encoder.pos_embed.shape == (1, 16, 16, 768)
    assert sam.image_encoder.blocks[2].attn.rel_pos_h.shape == (31, 64)  # global block: 2*16-1 rows
    assert sam.image_encoder.blocks[0].attn.rel_pos_h.shape == (27, 64)  # windowed block keeps 2*14-1


def test_size_must_be_a_multiple_of_the_patch():
    with pytest.raises(ValueError, match="multiple of the patch size 8"):
        build_sam("mini", image_size=100)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_sam("vit_x", image_size=256)


def test_official_parameter_counts_of_vit_b():
    with torch.device("meta"):
        sam = build_sam("vit_b", image_size=1024)

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(sam.image_encoder) == 89_670_912
    assert count(sam.prompt_encoder) == 6_220
    assert count(sam.mask_decoder) == 4_058_340


@pytest.mark.parametrize("num_classes", [1, 4])
def test_prompt_free_decoder_over_a_batch(num_classes):
    sam = build_sam("mini", image_size=64, num_mask_tokens=max(4, num_classes))
    decoder = PromptFreeDecoder(sam.prompt_encoder, sam.mask_decoder, num_classes)
    embeddings = sam.image_encoder(torch.randn(3, 3, 64, 64))
    logits, iou = decoder(embeddings, (64, 64))
    assert logits.shape == (3, num_classes, 64, 64) and iou.shape == (3, num_classes)
    # each image is decoded on its own: the batch gives the same as one at a time
    alone, _ = decoder(embeddings[1:2], (64, 64))
    torch.testing.assert_close(logits[1:2], alone, atol=1e-5, rtol=1e-5)


def test_prompt_free_equals_official_decoder_without_prompts():
    """For one image, the official MaskDecoder with empty prompts gives the same first mask."""
    sam = build_sam("mini", image_size=64).eval()
    embeddings = sam.image_encoder(torch.randn(1, 3, 64, 64))
    sparse, dense = sam.prompt_encoder(points=None, boxes=None, masks=None)
    official, _ = sam.mask_decoder(embeddings, sam.prompt_encoder.get_dense_pe(), sparse, dense, False)
    ours, _ = PromptFreeDecoder(sam.prompt_encoder, sam.mask_decoder, 1)(embeddings, official.shape[-2:])
    torch.testing.assert_close(ours, official, atol=1e-5, rtol=1e-5)


def test_too_many_classes_for_the_decoder():
    sam = build_sam("mini", image_size=32)
    with pytest.raises(ValueError, match="mask tokens"):
        PromptFreeDecoder(sam.prompt_encoder, sam.mask_decoder, 5)


# --- checkpoints -------------------------------------------------------------------------------------------


@pytest.fixture()
def saved_mini(tmp_path):
    """A checkpoint in the official key layout, written by the test (a mini SAM at 128 px)."""
    torch.manual_seed(0)
    sam = build_sam("mini", image_size=128)
    path = tmp_path / "sam_mini_test.pth"
    torch.save(sam.state_dict(), path)
    return sam, path


def test_load_same_size_is_exact(saved_mini):
    sam, path = saved_mini
    other = build_sam("mini", image_size=128)
    report = ckpt.load_into(other, path, strict_keys=True)
    assert not report.resized and not report.missing
    for key, value in sam.state_dict().items():
        torch.testing.assert_close(other.state_dict()[key], value)


def test_load_other_size_interpolates_position_tables(saved_mini):
    sam, path = saved_mini
    small = build_sam("mini", image_size=64)
    report = ckpt.load_into(small, path)
    assert "image_encoder.pos_embed" in report.resized
    assert "image_encoder.blocks.2.attn.rel_pos_h" in report.resized  # global block
    assert "image_encoder.blocks.0.attn.rel_pos_h" not in report.resized  # windowed block
    expected = ckpt.resize_pos_embed(sam.image_encoder.pos_embed.detach(), (8, 8))
    torch.testing.assert_close(small.image_encoder.pos_embed.detach(), expected)
    # interpolating to the same size is the identity
    table = sam.image_encoder.blocks[2].attn.rel_pos_h.detach()
    torch.testing.assert_close(ckpt.resize_rel_pos(table, table.shape[0]), table)


def test_wrong_keys_and_shapes_are_refused(saved_mini, tmp_path):
    _, path = saved_mini
    state = torch.load(path, weights_only=True)
    state["image_encoder.blocks.0.mlp.lin1.weight"] = torch.zeros(3, 3)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=r"blocks\.0\.mlp\.lin1\.weight: \(3, 3\)"):
        ckpt.load_into(build_sam("mini", image_size=128), bad)
    torch.save({"something.else": torch.zeros(2)}, bad)
    with pytest.raises(CheckpointError, match="no key matches"):
        ckpt.load_into(build_sam("mini", image_size=128), bad)
    state = torch.load(path, weights_only=True)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, bad)
    report = ckpt.load_into(build_sam("mini", image_size=128), bad)
    assert report.unexpected == ["extra.weight"] and "unexpected 1 (extra.weight)" in str(report)
    with pytest.raises(CheckpointError, match="key mismatch"):
        ckpt.load_into(build_sam("mini", image_size=128), bad, strict_keys=True)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        ckpt.load_state_dict(path)


def _fake_official(monkeypatch, tmp_path, payload: bytes, sha: str, size: int):
    source = tmp_path / "server" / "sam_vit_b_01ec64.pth"
    source.parent.mkdir()
    source.write_bytes(payload)
    monkeypatch.setitem(ckpt.OFFICIAL, "vit_b", ckpt.Official(source.as_uri(), sha, size))
    return tmp_path / "cache"


def test_download_verifies_and_caches(monkeypatch, tmp_path, saved_mini):
    _, path = saved_mini
    payload = path.read_bytes()
    cache = _fake_official(monkeypatch, tmp_path, payload, hashlib.sha256(payload).hexdigest(), len(payload))
    got = ckpt.download("vit_b", cache_dir=cache)
    assert got.read_bytes() == payload and not list(cache.glob("*.part"))
    assert ckpt.download("vit_b", cache_dir=cache) == got  # second call: from the cache


def test_download_refuses_wrong_hash_and_keeps_nothing(monkeypatch, tmp_path):
    cache = _fake_official(monkeypatch, tmp_path, b"x" * 100, "0" * 64, 100)
    with pytest.raises(CheckpointError, match="sha256 does not match"):
        ckpt.download("vit_b", cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_download_refuses_truncated_file(monkeypatch, tmp_path):
    cache = _fake_official(monkeypatch, tmp_path, b"x" * 60, None, 100)
    with pytest.raises(CheckpointError, match="60 bytes, expected 100"):
        ckpt.download("vit_b", cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_cached_file_that_went_bad_is_deleted(monkeypatch, tmp_path):
    payload = b"y" * 100
    cache = _fake_official(monkeypatch, tmp_path, payload, hashlib.sha256(payload).hexdigest(), 100)
    got = ckpt.download("vit_b", cache_dir=cache)
    got.write_bytes(b"y" * 99)
    with pytest.raises(CheckpointError, match="truncated"):
        ckpt.download("vit_b", cache_dir=cache)
    assert not got.exists()


def test_published_vit_b_checksum_is_known():
    assert ckpt.OFFICIAL["vit_b"].sha256.startswith("ec2df627") and ckpt.OFFICIAL["vit_b"].size == 375_042_383
    assert set(ckpt.OFFICIAL) == set(SAM_CONFIGS) - {"mini"}


def test_resolve_checkpoint_without_files(monkeypatch, tmp_path):
    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path))
    monkeypatch.setenv("SAMBOOK_CHECKPOINTS", str(tmp_path / "ck"))
    path, text = ckpt.resolve_checkpoint("vit_b")
    assert path is None and "random initialisation" in text
    (tmp_path / "ck").mkdir()
    cached = tmp_path / "ck" / "sam_vit_b_01ec64.pth"
    cached.write_bytes(b"")  # a cached file is checked where it is used, not only when downloaded
    with pytest.raises(CheckpointError, match=r"sam_vit_b_01ec64\.pth: 0 bytes, expected 375042383"):
        ckpt.resolve_checkpoint("vit_b")
    cached.write_bytes(b"weights")
    published = ckpt.Official(ckpt.OFFICIAL["vit_b"].url, hashlib.sha256(b"weights").hexdigest(), 7)
    monkeypatch.setitem(ckpt.OFFICIAL, "vit_b", published)
    path, text = ckpt.resolve_checkpoint("vit_b")
    assert path == cached and "official" in text


def test_the_committed_mini_checkpoint_is_found_from_anywhere(monkeypatch, tmp_path):
    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path))
    monkeypatch.setenv("SAMBOOK_CHECKPOINTS", str(tmp_path / "ck"))
    path, text = ckpt.resolve_checkpoint("mini")
    assert path == ckpt.COMMITTED / ckpt.MINI_CHECKPOINT and path.is_file() and "pretrained mini SAM" in text
    report = ckpt.load_into(build_sam("mini", image_size=128), path)
    assert not report.missing  # every tensor of a 4-token model comes from the checkpoint


def test_more_mask_tokens_keep_the_shared_rows_and_report_the_new_hypernetwork(saved_mini):
    sam, path = saved_mini
    wider = build_sam("mini", image_size=128, num_mask_tokens=5)
    report = ckpt.load_into(wider, path)
    assert "mask_decoder.mask_tokens.weight" in report.resized
    assert any(k.startswith("mask_decoder.output_hypernetworks_mlps.4.") for k in report.missing)
    torch.testing.assert_close(wider.mask_decoder.mask_tokens.weight[:4], sam.mask_decoder.mask_tokens.weight)
