"""Our WanTransformer3DModel: strict loading (both key layouts), diffusers' math at several latent sizes, the
RoPE-table graph path, shards and the exported graphs' structure.

    /usr/bin/python3 -m unittest discover -s convert/tests -p 'test_wan_transformer.py'
"""
import json
import math
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kinema_convert import checkpoints, onnx_export  # noqa: E402
from kinema_convert import wan_transformer as wt  # noqa: E402

TINY = wt.default_config('tiny')


def tiny_module(seed=0, config=TINY):
    module = wt.build(config)
    wt.load_weights(module, wt.random_checkpoint(config, seed))
    return module


def run(module, ex):
    with torch.no_grad():
        return module(ex['hidden_states'], ex['timestep'], ex['encoder_hidden_states'])


def to_original(tensors):
    """diffusers names -> the original Wan names, written out by hand from Wan's module layout (the inverse of
    convert_wan_to_diffusers.py's table), so the renaming in load_weights is checked against an independent list."""
    top = {
        'condition_embedder.time_embedder.linear_1': 'time_embedding.0',
        'condition_embedder.time_embedder.linear_2': 'time_embedding.2',
        'condition_embedder.time_proj': 'time_projection.1',
        'condition_embedder.text_embedder.linear_1': 'text_embedding.0',
        'condition_embedder.text_embedder.linear_2': 'text_embedding.2',
        'proj_out': 'head.head',
    }
    block = {
        'attn1.to_q': 'self_attn.q', 'attn1.to_k': 'self_attn.k', 'attn1.to_v': 'self_attn.v',
        'attn1.to_out.0': 'self_attn.o', 'attn1.norm_q': 'self_attn.norm_q', 'attn1.norm_k': 'self_attn.norm_k',
        'attn2.to_q': 'cross_attn.q', 'attn2.to_k': 'cross_attn.k', 'attn2.to_v': 'cross_attn.v',
        'attn2.to_out.0': 'cross_attn.o', 'attn2.norm_q': 'cross_attn.norm_q', 'attn2.norm_k': 'cross_attn.norm_k',
        'norm2': 'norm3', 'ffn.net.0.proj': 'ffn.0', 'ffn.net.2': 'ffn.2',
    }
    out = {}
    for key, value in tensors.items():
        if key == 'scale_shift_table':
            out['head.modulation'] = value
            continue
        if key.startswith('blocks.'):
            _, i, rest = key.split('.', 2)
            if rest == 'scale_shift_table':
                out[f'blocks.{i}.modulation'] = value
                continue
            module_name, leaf = rest.rsplit('.', 1)
            out[f'blocks.{i}.{block[module_name]}.{leaf}'] = value
            continue
        module_name, leaf = key.rsplit('.', 1)
        out[f'{top.get(module_name, module_name)}.{leaf}'] = value
    return out


class LoadingTest(unittest.TestCase):
    def test_shapes_table_matches_the_module(self):
        module = wt.build(TINY)
        self.assertEqual({k: tuple(v.shape) for k, v in module.state_dict().items()}, wt.parameter_shapes(TINY))

    def test_names_are_diffusers(self):
        names = set(wt.parameter_shapes(TINY))
        for key in ('patch_embedding.weight', 'condition_embedder.time_embedder.linear_1.weight',
                    'condition_embedder.time_embedder.linear_2.bias', 'condition_embedder.time_proj.weight',
                    'condition_embedder.text_embedder.linear_1.weight', 'condition_embedder.text_embedder.linear_2.bias',
                    'blocks.1.attn1.to_q.weight', 'blocks.1.attn1.to_out.0.bias', 'blocks.1.attn1.norm_q.weight',
                    'blocks.1.attn2.norm_k.weight', 'blocks.1.norm2.weight', 'blocks.1.norm2.bias',
                    'blocks.1.ffn.net.0.proj.weight', 'blocks.1.ffn.net.2.bias', 'blocks.1.scale_shift_table',
                    'scale_shift_table', 'proj_out.weight'):
            self.assertIn(key, names)
        self.assertFalse(any('norm1' in k or 'norm3' in k or 'norm_out' in k for k in names),
                         'the non-affine layer norms have no weights in diffusers checkpoints')
        self.assertEqual(wt.parameter_shapes(TINY)['blocks.0.scale_shift_table'], (1, 6, 24))
        self.assertEqual(wt.parameter_shapes(TINY)['proj_out.weight'], (16 * 4, 24))

    def test_1_3b_config_has_the_published_size(self):
        config = wt.default_config('1.3b')
        self.assertEqual(config['num_attention_heads'] * config['attention_head_dim'], 1536)
        self.assertEqual(wt.parameter_count(config), 1_418_996_800)
        self.assertEqual(wt.parameter_shapes(config)['condition_embedder.time_proj.weight'], (9216, 1536))

    def test_random_checkpoint_loads_strictly_and_is_deterministic(self):
        a, b = wt.random_checkpoint(TINY, 3), wt.random_checkpoint(TINY, 3)
        self.assertTrue(all(torch.equal(a[k], b[k]) for k in a))
        self.assertFalse(torch.equal(a['proj_out.weight'], wt.random_checkpoint(TINY, 4)['proj_out.weight']))
        module = wt.build(TINY)
        wt.load_weights(module, a)
        self.assertTrue(torch.equal(module.blocks[1].attn2.to_v.weight, a['blocks.1.attn2.to_v.weight']))

    def test_missing_key_is_named(self):
        tensors = wt.random_checkpoint(TINY, 0)
        del tensors['blocks.1.attn1.norm_k.weight']
        with self.assertRaisesRegex(ValueError, r'missing tensor `blocks\.1\.attn1\.norm_k\.weight`'):
            wt.load_weights(wt.build(TINY), tensors)

    def test_unexpected_key_is_named(self):
        tensors = wt.random_checkpoint(TINY, 0)
        tensors['blocks.0.attn2.add_k_proj.weight'] = torch.zeros(24, 24)
        with self.assertRaisesRegex(ValueError, r'unexpected tensor `blocks\.0\.attn2\.add_k_proj\.weight`'):
            wt.load_weights(wt.build(TINY), tensors)

    def test_misshaped_key_is_named(self):
        tensors = wt.random_checkpoint(TINY, 0)
        tensors['condition_embedder.text_embedder.linear_1.weight'] = torch.zeros(24, 17)
        with self.assertRaisesRegex(ValueError, r'`condition_embedder\.text_embedder\.linear_1\.weight` has shape '
                                                r'\[24, 17\]; this config expects \[24, 16\]'):
            wt.load_weights(wt.build(TINY), tensors)

    def test_half_precision_values_are_widened(self):
        tensors = {k: v.half() for k, v in wt.random_checkpoint(TINY, 0).items()}
        module = wt.build(TINY)
        wt.load_weights(module, tensors)
        self.assertEqual(module.proj_out.weight.dtype, torch.float32)
        self.assertTrue(torch.equal(module.proj_out.weight, tensors['proj_out.weight'].float()))

    def test_original_layout_gives_the_same_output(self):
        tensors = wt.random_checkpoint(TINY, 5)
        ex = wt.example_inputs(TINY, 2, 4, 6, 5, 1, seed=1)
        reference = run(tiny_module(5), ex)
        original = to_original(tensors)
        self.assertIn('blocks.0.norm3.weight', original)
        self.assertEqual(wt.detect_layout(original), 'original')
        # Wan's own checkpoint, and rCM's `.pt` (a `net.` prefix, a Linear patch embedding [dim, C*pt*ph*pw]).
        rcm = {f'net.{k}': v for k, v in original.items()}
        rcm['net.patch_embedding.weight'] = original['patch_embedding.weight'].reshape(24, -1).clone()
        for variant in (original, rcm):
            module = wt.build(TINY)
            wt.load_weights(module, variant)
            self.assertTrue(torch.equal(run(module, ex), reference))

    def test_original_layout_errors_name_the_key(self):
        original = to_original(wt.random_checkpoint(TINY, 0))
        del original['blocks.1.cross_attn.o.bias']
        with self.assertRaisesRegex(ValueError, r'missing tensor `blocks\.1\.attn2\.to_out\.0\.bias`.*original'):
            wt.load_weights(wt.build(TINY), original)
        original = to_original(wt.random_checkpoint(TINY, 0))
        original['img_emb.proj.0.weight'] = torch.zeros(4)
        with self.assertRaisesRegex(ValueError, r'unexpected tensor `img_emb\.proj\.0\.weight`'):
            wt.load_weights(wt.build(TINY), original)

    def test_mixed_layouts_are_refused(self):
        tensors = wt.random_checkpoint(TINY, 0)
        tensors['time_embedding.0.weight'] = tensors.pop('condition_embedder.time_embedder.linear_1.weight')
        with self.assertRaisesRegex(ValueError, 'mixes the diffusers layout'):
            wt.load_weights(wt.build(TINY), tensors)

    def test_config_mistakes_say_how_to_fix(self):
        with self.assertRaisesRegex(ValueError, '`added_kv_proj_dim`.*not supported'):
            wt.build(dict(TINY, added_kv_proj_dim=24))
        with self.assertRaisesRegex(ValueError, '`patch_size` must be three positive integers'):
            wt.build(dict(TINY, patch_size=[2, 2]))
        with self.assertRaisesRegex(ValueError, '`attention_head_dim` must be >= 6 with attention_head_dim mod 6'):
            wt.build(dict(TINY, attention_head_dim=16))
        with self.assertRaisesRegex(ValueError, '`name` must be one of'):
            wt.default_config('2b')


class MathTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.module = tiny_module(0)

    def test_forward_shapes_for_several_latent_sizes(self):
        for frames, height, width, length, batch in ((1, 2, 2, 3, 1), (3, 4, 6, 7, 2), (5, 8, 4, 12, 1),
                                                     (2, 6, 10, 512, 1)):
            ex = wt.example_inputs(TINY, frames, height, width, length, batch, seed=frames)
            out = run(self.module, ex)
            self.assertEqual(tuple(out.shape), (batch, 16, frames, height, width))
            self.assertTrue(torch.isfinite(out).all())
            self.assertGreater(float(out.std()), 0.1)

    def test_batch_items_are_independent(self):
        ex = wt.example_inputs(TINY, 3, 4, 6, 7, 2, seed=2)
        both = run(self.module, ex)
        for i in range(2):
            one = {k: (v[i:i + 1] if k in ('hidden_states', 'timestep', 'encoder_hidden_states') else v)
                   for k, v in ex.items()}
            torch.testing.assert_close(run(self.module, one), both[i:i + 1], rtol=0, atol=1e-5)

    def test_output_depends_on_every_input(self):
        ex = wt.example_inputs(TINY, 2, 4, 4, 5, 1, seed=3)
        base = run(self.module, ex)
        for key, change in (('timestep', lambda t: t + 100), ('encoder_hidden_states', lambda e: e * 0.5),
                            ('hidden_states', lambda x: x.flip(2))):
            changed = dict(ex, **{key: change(ex[key])})
            self.assertGreater(float((run(self.module, changed) - base).abs().max()), 1e-3, key)

    def test_sinusoid_is_cos_first_with_no_shift(self):
        emb = self.module.condition_embedder.sinusoid(torch.tensor([0.0, 1.0]))
        half = TINY['freq_dim'] // 2
        self.assertTrue(torch.equal(emb[0], torch.cat([torch.ones(half), torch.zeros(half)])))
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        torch.testing.assert_close(emb[1], torch.cat([torch.cos(freqs), torch.sin(freqs)]), rtol=0, atol=1e-7)

    def test_rope_split_follows_diffusers(self):
        self.assertEqual(wt.rope_split(128), (44, 42, 42))
        self.assertEqual(wt.rope_split(12), (4, 4, 4))
        cos, sin = wt.rope_tables(wt.default_config('1.3b'), 3, 4, 6)
        self.assertEqual(cos.shape, (3 * 2 * 3, 64))
        self.assertEqual(cos.dtype, np.float64)
        # token (f=2, y=1, x=2) -> n = (2*2 + 1)*3 + 2 = 17; pair 0 is the temporal pair at full frequency,
        # pair 22 the first height pair, pair 43 the first width pair; the last pair of each section is slowest.
        np.testing.assert_allclose(cos[17, 0], math.cos(2.0))
        np.testing.assert_allclose(sin[17, 22], math.sin(1.0))
        np.testing.assert_allclose(sin[17, 43], math.sin(2.0))
        np.testing.assert_allclose(sin[17, 21], math.sin(2.0 / 10000 ** (42 / 44)))
        np.testing.assert_allclose(sin[17, 63], math.sin(2.0 / 10000 ** (40 / 42)))

    def test_rope_tables_equal_the_modules_own(self):
        for frames, height, width in ((1, 2, 2), (3, 4, 6), (7, 10, 4)):
            hidden = torch.zeros(1, 16, frames, height, width)
            own_cos, own_sin = self.module.rope(hidden)
            cos, sin = wt.rope_tables(TINY, frames, height, width)
            self.assertTrue(torch.equal(own_cos, torch.from_numpy(cos.astype(np.float32))))
            self.assertTrue(torch.equal(own_sin, torch.from_numpy(sin.astype(np.float32))))

    def test_rope_rotation_matches_diffusers_interleaved_form(self):
        # diffusers' processor: full-width tables with each value repeated twice, cos[..., 0::2], sin[..., 1::2],
        # and out[..., 0::2] / out[..., 1::2] assigned separately.
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2, 18, 2, 12, generator=g)
        cos, sin = (torch.from_numpy(t.astype(np.float32)) for t in wt.rope_tables(TINY, 2, 6, 6))
        full_cos = cos.repeat_interleave(2, dim=1)[None, :, None, :]
        full_sin = sin.repeat_interleave(2, dim=1)[None, :, None, :]
        x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
        expected = torch.empty_like(x)
        expected[..., 0::2] = x1 * full_cos[..., 0::2] - x2 * full_sin[..., 1::2]
        expected[..., 1::2] = x1 * full_sin[..., 1::2] + x2 * full_cos[..., 0::2]
        self.assertTrue(torch.equal(wt.apply_rope(x, cos, sin), expected))

    def test_graph_path_with_tables_equals_forward(self):
        for frames, height, width, length, batch in ((1, 2, 2, 3, 1), (3, 4, 6, 7, 2), (2, 6, 10, 512, 1)):
            ex = wt.example_inputs(TINY, frames, height, width, length, batch, seed=7)
            with torch.no_grad():
                context = self.module.condition_embedder.text_embedder(ex['encoder_hidden_states'])
                graph = self.module.forward_graph(ex['hidden_states'], ex['timestep'], context, ex['rope_cos'],
                                                  ex['rope_sin'])
            torch.testing.assert_close(graph, run(self.module, ex), rtol=0, atol=1e-5)

    def test_patchify_equals_the_conv_and_unpatchify_inverts_it(self):
        config = dict(TINY, patch_size=[2, 2, 2])
        module = tiny_module(1, config)
        x = torch.randn(2, 16, 4, 6, 4)
        with torch.no_grad():
            conv = module.patch_embedding(x).flatten(2).transpose(1, 2)
            torch.testing.assert_close(module.embed_tokens(x), conv, rtol=0, atol=1e-5)
            # unpatchify is diffusers' reshape/permute: the per-token channel order is (kt, kh, kw, c).
            tokens = torch.randn(2, 2 * 3 * 2, 8 * 16)
            expected = tokens.reshape(2, 2, 3, 2, 2, 2, 2, 16).permute(0, 7, 1, 4, 2, 5, 3, 6)
            expected = expected.flatten(6, 7).flatten(4, 5).flatten(2, 3)
            self.assertTrue(torch.equal(module.unpatchify(tokens, x), expected))
            ex = wt.example_inputs(config, 4, 6, 4, 5, 1, seed=2)
            context = module.condition_embedder.text_embedder(ex['encoder_hidden_states'])
            torch.testing.assert_close(module.forward_graph(ex['hidden_states'], ex['timestep'], context,
                                                            ex['rope_cos'], ex['rope_sin']),
                                       run(module, ex), rtol=0, atol=1e-5)

    def test_shard_chain_equals_forward(self):
        config = dict(TINY, num_layers=5)
        module = tiny_module(2, config)
        self.assertEqual(wt.shard_ranges(5, 3), [(0, 2), (2, 4), (4, 5)])
        ex = wt.example_inputs(config, 2, 4, 6, 5, 2, seed=4)
        with torch.no_grad():
            values = dict(ex, context=module.condition_embedder.text_embedder(ex['encoder_hidden_states']))
            for name, shard in wt.shard_modules(module, 3):
                result = shard(*(values[k] for k in shard.input_names()))
                result = result if isinstance(result, tuple) else (result,)
                values.update(zip(shard.output_names(), result))
        torch.testing.assert_close(values['sample'], run(module, ex), rtol=0, atol=1e-5)
        with self.assertRaisesRegex(ValueError, '`shards` must be an integer from 1 to num_layers'):
            wt.shard_ranges(5, 6)

    def test_shards_for_keeps_files_under_2_gb(self):
        config = wt.default_config('1.3b')
        self.assertEqual(wt.shards_for(TINY, 'fp32'), 1)
        for weights in ('fp16', 'fp32'):
            shards = wt.shards_for(config, weights)
            per_value = 2 if weights == 'fp16' else 4
            self.assertGreaterEqual(shards * 2_000_000_000, wt.parameter_count(config) * per_value)
            if shards > 1:
                # one fewer shard would not fit: the choice is the fewest
                ranges = wt.shard_ranges(30, shards - 1)
                biggest = max(b - a for a, b in ranges)
                block = sum(math.prod(s) for k, s in wt.parameter_shapes(config).items() if k.startswith('blocks.0.'))
                self.assertGreater(biggest * block * per_value, 2_000_000_000 - 0.2e9)


class ExportTest(unittest.TestCase):
    def export(self, weights, shards):
        out = Path(tempfile.mkdtemp(prefix='wan-export-'))
        self.addCleanup(lambda: __import__('shutil').rmtree(out, ignore_errors=True))
        return out, wt.export(tiny_module(0), TINY, out, weights, shards=shards)

    def io(self, out, entry):
        return onnx_export.graph_io(out / entry['files'][0]['path'])

    def test_single_graph_structure(self):
        out, entries = self.export('fp32', 1)
        self.assertEqual([e['name'] for e in entries], ['denoiser_context', 'denoiser'])
        self.assertTrue(entries[0]['perPrompt'])
        self.assertNotIn('perPrompt', entries[1])
        for e in entries:
            roles = [f.get('role') for f in e['files']]
            self.assertEqual(roles, [None, 'external-data'])
            for f in e['files']:
                self.assertEqual((out / f['path']).stat().st_size, f['bytes'])
        ctx = self.io(out, entries[0])
        self.assertEqual(ctx['inputs'], {'encoder_hidden_states': {'shape': ['batch', 'text_length', 16],
                                                                   'dtype': 'FLOAT'}})
        self.assertEqual(ctx['outputs'], {'context': {'shape': ['batch', 'text_length', 24], 'dtype': 'FLOAT'}})
        den = self.io(out, entries[1])
        self.assertEqual(list(den['inputs']), ['hidden_states', 'timestep', 'context', 'rope_cos', 'rope_sin'])
        self.assertEqual(den['inputs']['hidden_states']['shape'], ['batch', 16, 'frames', 'height', 'width'])
        self.assertEqual(den['inputs']['timestep']['shape'], ['batch'])
        self.assertEqual(den['inputs']['context']['shape'], ['batch', 'text_length', 24])
        self.assertEqual(den['inputs']['rope_cos']['shape'], ['tokens', 6])
        self.assertEqual(list(den['outputs']), ['sample'])
        self.assertEqual([den['outputs']['sample']['shape'][i] for i in (0, 2, 3, 4)],
                         ['batch', 'frames', 'height', 'width'])
        model = onnx.load(str(out / entries[1]['files'][0]['path']))
        ops = {n.op_type for n in model.graph.node}
        self.assertNotIn('Conv', ops, 'the patch embedding is a MatMul in the graph')
        self.assertIn('LayerNormalization', ops)
        self.assertIn('Softmax', ops)

    def test_sharded_fp16_structure(self):
        out, entries = self.export('fp16', 2)
        self.assertEqual([e['name'] for e in entries], ['denoiser_context', 'denoiser_0', 'denoiser_1'])
        first, last = self.io(out, entries[1]), self.io(out, entries[2])
        self.assertEqual(list(first['inputs']), ['hidden_states', 'timestep', 'context', 'rope_cos', 'rope_sin'])
        self.assertEqual(list(first['outputs']), ['tokens', 'temb', 'timestep_proj'])
        self.assertEqual(first['outputs']['tokens']['shape'], ['batch', 'tokens', 24])
        self.assertEqual(first['outputs']['timestep_proj']['shape'], ['batch', 6, 24])
        self.assertEqual(set(last['inputs']), {'hidden_states', 'tokens', 'temb', 'timestep_proj', 'context',
                                               'rope_cos', 'rope_sin'})
        self.assertEqual(list(last['outputs']), ['sample'])
        model = onnx.load(str(out / entries[1]['files'][0]['path']))
        halves = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
        self.assertTrue(any(i.name.endswith('__fp16') for i in halves))
        self.assertIn('Cast', {n.op_type for n in model.graph.node})
        for v in list(model.graph.input) + list(model.graph.output):
            self.assertEqual(v.type.tensor_type.elem_type, onnx.TensorProto.FLOAT, v.name)


class ReferenceOutputsTest(unittest.TestCase):
    def test_reference_outputs_from_a_diffusers_folder(self):
        folder = Path(tempfile.mkdtemp(prefix='wan-ref-'))
        self.addCleanup(lambda: __import__('shutil').rmtree(folder, ignore_errors=True))
        tensors = wt.random_checkpoint(TINY, 9)
        (folder / 'config.json').write_text(json.dumps(TINY))
        checkpoints.write_safetensors(folder / 'diffusion_pytorch_model.safetensors', tensors)
        ex = wt.example_inputs(TINY, 2, 4, 4, 6, 1, seed=5)
        inputs = {k: ex[k].numpy() for k in ('hidden_states', 'timestep', 'encoder_hidden_states')}
        out = wt.reference_outputs(folder, inputs)
        module = wt.build(TINY)
        wt.load_weights(module, tensors)
        np.testing.assert_array_equal(out['sample'], run(module, ex).numpy())
        self.assertEqual(out['context'].shape, (1, 6, 24))
        self.assertEqual(out['rope_cos'].shape, (8, 6))
        self.assertTrue(all(v.dtype == np.float32 for v in out.values()))
        with self.assertRaisesRegex(ValueError, '`inputs` must hold `timestep`'):
            wt.reference_outputs(folder, {'hidden_states': inputs['hidden_states']})


class SampleTest(unittest.TestCase):
    """The PyTorch sampling run (kinema_convert.sample): its loop against hand-written steps, and the CLI."""

    @classmethod
    def setUpClass(cls):
        from kinema_convert import sample, testing
        cls.sample = sample
        cls.dir = Path(tempfile.mkdtemp(prefix='wan-sample-'))
        testing.write_transformer(cls.dir / 'transformer', TINY, seed=3)
        testing.write_taehv(cls.dir / 'taehv.safetensors', None, seed=4)
        cls.module = wt.load_module(cls.dir / 'transformer')
        rng = np.random.default_rng(0)
        cls.prompt = rng.standard_normal((1, 6, 16)).astype(np.float32)
        cls.negative = rng.standard_normal((1, 6, 16)).astype(np.float32)
        cls.noise = rng.standard_normal((1, 16, 2, 4, 4)).astype(np.float32)

    @classmethod
    def tearDownClass(cls):
        __import__('shutil').rmtree(cls.dir, ignore_errors=True)

    def v(self, x, t, embeds):
        with torch.no_grad():
            return self.module(torch.from_numpy(x), torch.tensor([t], dtype=torch.float32), torch.from_numpy(embeds))

    def test_one_euler_step_with_guidance(self):
        scheduler = {'type': 'flow-match-euler', 'config': {'num_train_timesteps': 1000, 'shift': 3.0}}
        out = self.sample.run(self.module, self.prompt, self.noise, scheduler, 1, 5.0, self.negative)
        sigma0 = float(out['sigmas'][0])
        self.assertEqual(float(out['sigmas'][1]), 0.0)
        self.assertAlmostEqual(float(out['timesteps'][0]), 1000 * sigma0, places=3)
        cond, uncond = self.v(self.noise, out['timesteps'][0], self.prompt), self.v(self.noise, out['timesteps'][0],
                                                                                  self.negative)
        expected = torch.from_numpy(self.noise) - sigma0 * (uncond + 5.0 * (cond - uncond))
        np.testing.assert_allclose(out['latents'], expected.numpy(), rtol=0, atol=1e-5)

    def test_rcm_two_steps_by_hand(self):
        scheduler = {'type': 'rcm', 'config': {'sigmas': [0.98765, 0.78271, 0.60898, 0.40622]}}
        eps = np.random.default_rng(1).standard_normal(self.noise.shape).astype(np.float32)
        out = self.sample.run(self.module, self.prompt, self.noise, scheduler, 2, step_noise=[eps])
        np.testing.assert_allclose(out['timesteps'], [987.65, 782.71], rtol=1e-6)
        x = torch.from_numpy(self.noise)
        x0 = x - 0.98765 * self.v(self.noise, 987.65, self.prompt)
        x = (1 - 0.78271) * x0 + 0.78271 * torch.from_numpy(eps)
        x0 = x - 0.78271 * self.v(x.numpy(), 782.71, self.prompt)
        np.testing.assert_allclose(out['latents'], x0.numpy(), rtol=0, atol=1e-5)
        # without given noise it draws kinema's noise for seed (seed + 1 + i) mod 2^31: other values
        drawn = self.sample.run(self.module, self.prompt, self.noise, scheduler, 2, seed=7)
        self.assertGreater(float(np.abs(drawn['latents'] - out['latents']).max()), 1e-3)

    def test_unipc_runs_the_wan21_schedule(self):
        from kinema_convert import manifest
        scheduler = manifest.scheduler_block(None, 'unipc')
        out = self.sample.run(self.module, self.prompt, self.noise, scheduler, 3)
        self.assertEqual(out['latents'].shape, self.noise.shape)
        self.assertTrue(np.isfinite(out['latents']).all())
        self.assertEqual(len(out['timesteps']), 3)
        self.assertEqual(out['sigmas'][-1], 0.0)

    def test_mistakes_are_refused(self):
        scheduler = {'type': 'flow-match-euler', 'config': {'shift': 3.0}}
        with self.assertRaisesRegex(ValueError, 'give `negative_prompt_embeds`'):
            self.sample.run(self.module, self.prompt, self.noise, scheduler, 2, 5.0)
        with self.assertRaisesRegex(ValueError, '`steps` must be an integer from 1 to 1000; got 0'):
            self.sample.run(self.module, self.prompt, self.noise, scheduler, 0)
        with self.assertRaisesRegex(ValueError, '`step_noise` is for the rcm sampler only'):
            self.sample.run(self.module, self.prompt, self.noise, scheduler, 2, step_noise=[self.noise])

    def test_cli_writes_frames_and_reads_a_models_scheduler(self):
        d = self.dir
        np.save(d / 'pe.npy', self.prompt)
        np.save(d / 'noise.npy', self.noise)
        (d / 'model').mkdir(exist_ok=True)
        (d / 'model' / 'manifest.json').write_text(json.dumps({
            'scheduler': {'type': 'flow-match-euler', 'config': {'num_train_timesteps': 1000, 'shift': 3.0}},
            'guidance': {'cfg': False}}))
        common = ['--transformer', str(d / 'transformer'), '--decoder', str(d / 'taehv.safetensors'),
                  '--prompt-embeds', str(d / 'pe.npy'), '--noise', str(d / 'noise.npy'), '--steps', '2']
        self.assertEqual(self.sample.main(common + ['--model', str(d / 'model'), '--out', str(d / 'a.npy'),
                                                    '--latents-out', str(d / 'la.npy')]), 0)
        self.assertEqual(self.sample.main(common + ['--sampler', 'euler', '--out', str(d / 'b.npy')]), 0)
        frames = np.load(d / 'a.npy')
        self.assertEqual(frames.shape, (4 * 2 - 3, 32, 32, 3))
        self.assertEqual(frames.dtype, np.float32)
        self.assertGreaterEqual(frames.min(), 0.0)
        self.assertLessEqual(frames.max(), 1.0)
        self.assertGreater(float(frames.std()), 0.01)
        np.testing.assert_array_equal(frames, np.load(d / 'b.npy'))  # the manifest's Euler = --sampler euler
        direct = self.sample.run(self.module, self.prompt, self.noise,
                                 {'type': 'flow-match-euler', 'config': {'shift': 3.0}}, 2)
        np.testing.assert_array_equal(np.load(d / 'la.npy'), direct['latents'])
        self.assertEqual(self.sample.main(common + ['--model', str(d / 'model'), '--guidance-scale', '5',
                                                    '--out', str(d / 'c.npy')]), 2)
        self.assertEqual(self.sample.main(common[:-2] + ['--steps', '2', '--sampler', 'euler']), 2)


if __name__ == '__main__':
    unittest.main()
