"""TAEHV decoder: key layout, strict loading, checkpoint round trips, streaming == parallel, export structure.

Run: /usr/bin/python3 -m unittest convert/tests/test_taehv.py  (from the repository root)
The ONNX graph's numbers are checked by the cross-language test (test/convert/) through kinema's runner.
"""
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kinema_convert import checkpoints, onnx_export, taehv  # noqa: E402


def tiny_module(seed=0):
    config = taehv.default_config('tiny')
    module = taehv.build(config)
    with_quiet_log(taehv.load_weights, module, taehv.random_checkpoint(config, seed))
    return config, module


def with_quiet_log(fn, *args):
    logger = taehv.LOG
    level = logger.level
    logger.setLevel(100)
    try:
        return fn(*args)
    finally:
        logger.setLevel(level)


def latents(n, t, h, w, seed=1, channels=16):
    return torch.randn(n, t, channels, h, w, generator=torch.Generator().manual_seed(seed))


class ConfigAndLayout(unittest.TestCase):
    def test_configs(self):
        self.assertEqual(taehv.default_config(None), taehv.default_config('taew2_1'))
        self.assertEqual(taehv.default_config('taew2_1')['decoder_channels'], [256, 128, 64, 64])
        with self.assertRaisesRegex(ValueError, "`name` must be"):
            taehv.default_config('taew2_2')
        with self.assertRaisesRegex(ValueError, 'unknown TAEHV config key `depth`'):
            taehv.build({'depth': 3})
        with self.assertRaisesRegex(ValueError, '`patch_size` must be 1'):
            taehv.build(dict(taehv.default_config('tiny'), patch_size=2))
        with self.assertRaisesRegex(ValueError, r'`decoder_channels\[2\]` must be a positive integer'):
            taehv.build(dict(taehv.default_config('tiny'), decoder_channels=[8, 8, 0, 8]))

    def test_taew2_1_key_layout(self):
        # Shapes of the published taew2_1 file's decoder (64 tensors) and encoder (64 tensors); 11.3 M parameters.
        module = taehv.build(taehv.default_config('taew2_1'))
        sd = module.state_dict()
        self.assertEqual(len(sd), 64)
        expect = {
            'decoder.1.weight': (256, 16, 3, 3), 'decoder.1.bias': (256,),
            'decoder.3.conv.0.weight': (256, 512, 3, 3), 'decoder.5.conv.4.bias': (256,),
            'decoder.7.conv.weight': (256, 256, 1, 1),  # TGrow stride 1
            'decoder.8.weight': (128, 256, 3, 3),
            'decoder.11.conv.2.weight': (128, 128, 3, 3),
            'decoder.13.conv.weight': (256, 128, 1, 1),  # TGrow stride 2
            'decoder.14.weight': (64, 128, 3, 3),
            'decoder.17.conv.0.weight': (64, 128, 3, 3),
            'decoder.19.conv.weight': (128, 64, 1, 1),  # TGrow stride 2
            'decoder.20.weight': (64, 64, 3, 3),
            'decoder.22.weight': (3, 64, 3, 3), 'decoder.22.bias': (3,),
        }
        for key, shape in expect.items():
            self.assertEqual(tuple(sd[key].shape), shape, key)
        self.assertNotIn('decoder.8.bias', sd)
        full = taehv.random_checkpoint(taehv.default_config('taew2_1'), 0)
        self.assertEqual(len(full), 128)
        self.assertEqual(sum(1 for k in full if k.startswith('encoder.')), 64)
        self.assertEqual(tuple(full['encoder.2.conv.weight'].shape), (64, 128, 1, 1))  # TPool stride 2
        self.assertEqual(tuple(full['encoder.12.conv.weight'].shape), (64, 64, 1, 1))  # TPool stride 1
        self.assertEqual(tuple(full['encoder.17.weight'].shape), (16, 64, 3, 3))
        params = sum(v.numel() for v in full.values())
        self.assertTrue(11.2e6 < params < 11.4e6, params)
        for key in sd:
            self.assertEqual(tuple(full[key].shape), tuple(sd[key].shape), key)

    def test_memory_layout(self):
        module = taehv.build(taehv.default_config('taew2_1'))
        block = module.streaming_manifest()
        self.assertEqual(block['framesPerLatent'], 4)
        self.assertEqual(block['trimFrames'], 3)
        self.assertEqual([(m['channels'], m['scale']) for m in block['memory']],
                         [(256, 1)] * 3 + [(128, 2)] * 3 + [(64, 4)] * 3)
        self.assertEqual([m['input'] for m in block['memory']], [f'mem_{i}' for i in range(9)])
        self.assertEqual([m['output'] for m in block['memory']], [f'mem_out_{i}' for i in range(9)])

    def test_config_from_tensors(self):
        config = taehv.default_config('tiny')
        found = taehv.config_from_tensors(taehv.random_checkpoint(config, 0))
        for key in ('latent_channels', 'patch_size', 'decoder_channels', 'encoder_channels'):
            self.assertEqual(found[key], config[key], key)
        with self.assertRaisesRegex(ValueError, '`decoder.8.weight`'):
            sd = taehv.random_checkpoint(config, 0)
            del sd['decoder.8.weight']
            taehv.config_from_tensors(sd)


class StrictLoading(unittest.TestCase):
    def setUp(self):
        self.config = taehv.default_config('tiny')
        self.module = taehv.build(self.config)
        self.sd = taehv.random_checkpoint(self.config, 0)

    def test_missing_key_is_named(self):
        del self.sd['decoder.9.conv.2.bias']
        with self.assertRaisesRegex(ValueError, 'decoder.9.conv.2.bias'):
            taehv.load_weights(self.module, self.sd)

    def test_unexpected_key_is_named(self):
        self.sd['decoder.8.bias'] = torch.zeros(16)
        with self.assertRaisesRegex(ValueError, 'decoder.8.bias'):
            taehv.load_weights(self.module, self.sd)

    def test_misshaped_key_is_named(self):
        self.sd['decoder.13.conv.weight'] = torch.zeros(16, 16, 1, 1)  # stride 1 where taew2_1 grows time
        with self.assertRaisesRegex(ValueError, r"decoder.13.conv.weight.*\[16, 16, 1, 1\]"):
            taehv.load_weights(self.module, self.sd)

    def test_other_variant_is_refused(self):
        # A taew2_1-width file into the tiny module: the first mismatching key is named.
        with self.assertRaisesRegex(ValueError, "decoder.1.weight"):
            taehv.load_weights(self.module, taehv.random_checkpoint(taehv.default_config('taew2_1'), 0))

    def test_encoder_keys_are_ignored_and_reported(self):
        with self.assertLogs(taehv.LOG, level='WARNING') as logs:
            taehv.load_weights(self.module, self.sd)
        self.assertIn('ignored 64 encoder tensors', logs.output[0])
        for key, value in self.module.state_dict().items():
            self.assertTrue(torch.equal(value, self.sd[key]), key)

    def test_decoder_only_file_loads_silently(self):
        decoder_only = {k: v for k, v in self.sd.items() if k.startswith('decoder.')}
        with self.assertNoLogs(taehv.LOG, level='WARNING'):
            taehv.load_weights(self.module, decoder_only)

    def test_fp16_values_become_fp32(self):
        half = {k: v.half() for k, v in self.sd.items()}
        with_quiet_log(taehv.load_weights, self.module, half)
        w = self.module.state_dict()['decoder.1.weight']
        self.assertEqual(w.dtype, torch.float32)
        self.assertTrue(torch.equal(w, half['decoder.1.weight'].float()))


class CheckpointRoundTrip(unittest.TestCase):
    def check_file(self, path, write):
        config = taehv.default_config('tiny')
        sd = taehv.random_checkpoint(config, 7)
        write(path, sd)
        read = taehv.read_checkpoint(path)
        self.assertEqual(sorted(read), sorted(sd))
        for key in sd:
            self.assertTrue(torch.equal(read[key].float(), sd[key]), key)
        module = with_quiet_log(taehv.load_module, path)
        direct = taehv.build(config)
        with_quiet_log(taehv.load_weights, direct, sd)
        x = latents(1, 2, 2, 3, seed=3)
        self.assertTrue(torch.equal(taehv.decode_video(module, x), taehv.decode_video(direct, x)))

    def test_safetensors(self):
        with tempfile.TemporaryDirectory() as d:
            self.check_file(Path(d) / 'taew2_1.safetensors', checkpoints.write_safetensors)

    def test_pth(self):
        with tempfile.TemporaryDirectory() as d:
            self.check_file(Path(d) / 'taew2_1.pth', lambda p, sd: torch.save(sd, p))

    def test_random_checkpoint_is_seeded(self):
        config = taehv.default_config('tiny')
        a, b = taehv.random_checkpoint(config, 5), taehv.random_checkpoint(config, 5)
        c = taehv.random_checkpoint(config, 6)
        self.assertTrue(all(torch.equal(a[k], b[k]) for k in a))
        self.assertFalse(torch.equal(a['decoder.1.weight'], c['decoder.1.weight']))


class Decoding(unittest.TestCase):
    def test_frame_count_and_range(self):
        _, module = tiny_module()
        for t in (1, 2, 3, 5):
            out = taehv.decode_video(module, latents(1, t, 2, 3))
            self.assertEqual(tuple(out.shape), (1, 4 * t - 3, 3, 16, 24))
            self.assertGreaterEqual(out.min().item(), 0.0)
            self.assertLessEqual(out.max().item(), 1.0)
        # The random weights spread the frames inside [0, 1] (a comparison on them means something).
        self.assertGreater(out.std().item(), 0.05)

    def test_streaming_equals_parallel(self):
        _, module = tiny_module()
        for h, w in ((2, 3), (5, 4)):
            for t in (1, 2, 3):
                x = latents(1, t, h, w, seed=10 * t + h)
                a = taehv.decode_video(module, x)
                b = taehv.decode_streaming(module, x)
                self.assertEqual(a.shape, b.shape)
                self.assertLessEqual((a - b).abs().max().item(), 1e-5, (h, w, t))

    def test_matches_taehv_reference_values(self):
        # Values from madebyollin/taehv's own TAEHV.decode_video (commit 1f14a56, parallel=True), given this
        # random_checkpoint(taew2_1, seed 11) and these latents; measured once with that code on torch 1.13.
        config = taehv.default_config('taew2_1')
        module = taehv.build(config)
        with_quiet_log(taehv.load_weights, module, taehv.random_checkpoint(config, 11))
        x = torch.randn(1, 2, 16, 2, 3, generator=torch.Generator().manual_seed(12))
        out = taehv.decode_video(module, x)
        self.assertEqual(tuple(out.shape), (1, 5, 3, 16, 24))
        self.assertAlmostEqual(out.double().sum().item(), 2926.710999, delta=1e-2)
        self.assertAlmostEqual(out.double().square().sum().item(), 1599.551000, delta=1e-2)
        points = {(0, 0, 0, 0, 0): 0.613696, (0, 1, 1, 5, 7): 0.381937, (0, 2, 2, 15, 23): 0.490193,
                  (0, 3, 0, 8, 12): 0.751113, (0, 4, 1, 3, 19): 0.493422, (0, 4, 2, 11, 2): 0.541941}
        for index, value in points.items():
            self.assertAlmostEqual(out[index].item(), value, delta=2e-6, msg=str(index))

    def test_streaming_equals_parallel_at_taew2_1_widths(self):
        config = taehv.default_config('taew2_1')
        module = taehv.build(config)
        with_quiet_log(taehv.load_weights, module, taehv.random_checkpoint(config, 2))
        x = latents(1, 3, 2, 3, seed=4)
        a, b = taehv.decode_video(module, x), taehv.decode_streaming(module, x)
        self.assertEqual(tuple(a.shape), (1, 9, 3, 16, 24))
        self.assertLessEqual((a - b).abs().max().item(), 1e-5)

    def test_batches_decode_independently(self):
        _, module = tiny_module()
        x = latents(2, 2, 2, 3)
        both = taehv.decode_video(module, x)
        self.assertLessEqual((both[1:] - taehv.decode_video(module, x[1:])).abs().max().item(), 1e-6)
        self.assertLessEqual((both - taehv.decode_streaming(module, x)).abs().max().item(), 1e-5)

    def test_memory_carries_the_past(self):
        # Causal: frames of the first latents do not depend on later latents; and they do depend on earlier ones
        # (decoding latent 1 with fresh memories gives other frames), so the memories carry real state.
        _, module = tiny_module()
        x = latents(1, 3, 2, 3)
        y = x.clone()
        y[:, 2] += 1.0
        a, b = taehv.decode_video(module, x), taehv.decode_video(module, y)
        self.assertTrue(torch.equal(a[:, :5], b[:, :5]))  # 4*2-3 = 5 frames from the first two latents
        self.assertGreater((a[:, 5:] - b[:, 5:]).abs().max().item(), 1e-3)
        with torch.no_grad():
            fresh, _ = module.step(x[:, 1], module.initial_memory(2, 3))
        self.assertGreater((fresh - a[0, 1:5]).abs().max().item(), 1e-3)

    def test_step_shapes(self):
        _, module = tiny_module()
        mems = module.initial_memory(2, 3)
        with torch.no_grad():
            frames, out = module.step(latents(1, 1, 2, 3)[:, 0], mems)
        self.assertEqual(tuple(frames.shape), (4, 3, 16, 24))
        self.assertEqual([tuple(m.shape) for m in out], [tuple(m.shape) for m in mems])
        self.assertEqual([tuple(m.shape) for m in mems],
                         [(1, 24, 2, 3)] * 3 + [(1, 16, 4, 6)] * 3 + [(1, 8, 8, 12)] * 3)

    def test_bad_latents_are_refused(self):
        _, module = tiny_module()
        with self.assertRaisesRegex(ValueError, 'NTCHW with C = 16'):
            taehv.decode_video(module, torch.zeros(1, 16, 2, 3, 4))  # NCTHW by mistake
        with self.assertRaisesRegex(ValueError, r'`latent` must have shape \[1, 16, H, W\]'):
            module.step(torch.zeros(2, 16, 2, 3), module.initial_memory(2, 3))
        with self.assertRaisesRegex(ValueError, '`mems` must hold 9 tensors'):
            module.step(torch.zeros(1, 16, 2, 3), [])

    def test_reference_frames(self):
        config, module = tiny_module(seed=4)
        with tempfile.TemporaryDirectory() as d:
            ckpt, lat = Path(d) / 'taehv.safetensors', Path(d) / 'latents.npy'
            checkpoints.write_safetensors(ckpt, taehv.random_checkpoint(config, 4))
            ncthw = latents(1, 3, 2, 3).permute(0, 2, 1, 3, 4).numpy()
            np.save(lat, ncthw)
            frames = with_quiet_log(taehv.reference_frames, ckpt, lat)
        self.assertEqual(frames.shape, (9, 16, 24, 3))
        self.assertEqual(frames.dtype, np.float32)
        want = taehv.decode_video(module, torch.from_numpy(ncthw).permute(0, 2, 1, 3, 4))[0].permute(0, 2, 3, 1)
        self.assertTrue(np.array_equal(frames, want.numpy()))

    def test_reference_frames_command(self):
        config, _ = tiny_module()
        with tempfile.TemporaryDirectory() as d:
            ckpt, lat, out = Path(d) / 'taehv.pth', Path(d) / 'latents.npy', Path(d) / 'frames.npy'
            torch.save(taehv.random_checkpoint(config, 4), ckpt)
            np.save(lat, latents(1, 2, 2, 3).permute(0, 2, 1, 3, 4).numpy())
            self.assertEqual(with_quiet_log(taehv.main, ['--checkpoint', str(ckpt), '--latents', str(lat), '--out', str(out)]), 0)
            self.assertTrue(np.array_equal(np.load(out), with_quiet_log(taehv.reference_frames, ckpt, lat)))
        with tempfile.TemporaryDirectory() as d:
            np.save(Path(d) / 'bad.npy', np.zeros((16, 2, 2, 3), np.float32))
            with self.assertRaisesRegex(ValueError, r'latents.npy must have shape \[1, C, T, H, W\]'):
                taehv.reference_frames(Path(d) / 'none.safetensors', Path(d) / 'bad.npy')


class Export(unittest.TestCase):
    def export(self, weights):
        config, module = tiny_module()
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        entries = taehv.export(module, config, Path(d.name), weights)
        return Path(d.name), module, entries

    def test_graph_structure(self):
        out, module, entries = self.export('fp32')
        self.assertEqual(len(entries), 1)
        entry = entries[0]
        self.assertEqual(entry['name'], 'vae_decoder_step')
        self.assertEqual(entry['streaming'], module.streaming_manifest())
        graph = [f for f in entry['files'] if 'role' not in f]
        self.assertEqual(len(graph), 1)
        for f in entry['files']:
            self.assertEqual((out / f['path']).stat().st_size, f['bytes'])
            self.assertEqual(onnx_export.sha256(out / f['path']), f['sha256'])
        io = onnx_export.graph_io(out / graph[0]['path'])
        k = len(entry['streaming']['memory'])
        self.assertEqual(list(io['inputs']), ['latent'] + [f'mem_{i}' for i in range(k)])
        self.assertEqual(list(io['outputs']), ['frames'] + [f'mem_out_{i}' for i in range(k)])
        self.assertEqual(io['inputs']['latent']['shape'], [1, 16, 'height', 'width'])
        self.assertEqual(io['outputs']['frames']['shape'], [4, 3, 'height_x8', 'width_x8'])
        for m in entry['streaming']['memory']:
            s = m['scale']
            want = [1, m['channels'], 'height' if s == 1 else f'height_x{s}', 'width' if s == 1 else f'width_x{s}']
            self.assertEqual(io['inputs'][m['input']]['shape'], want, m)
            self.assertEqual(io['outputs'][m['output']]['shape'], want, m)
        for v in list(io['inputs'].values()) + list(io['outputs'].values()):
            self.assertEqual(v['dtype'], 'FLOAT')

    def test_graph_ops(self):
        out, _, entries = self.export('fp16')
        graph = next(f for f in entries[0]['files'] if 'role' not in f)
        self.assertTrue(graph['path'].endswith('.onnx'))
        model = onnx.load(str(out / graph['path']))
        ops = {n.op_type for n in model.graph.node}
        # Plain 2-D convs, nearest x2, one Tanh for the latent clamp, Clip for [0, 1]: no attention, no loops.
        self.assertLessEqual(ops, {'Conv', 'Relu', 'Concat', 'Add', 'Slice', 'Resize', 'Reshape', 'Shape', 'Gather',
                                   'Unsqueeze', 'Constant', 'Div', 'Tanh', 'Mul', 'Clip', 'Cast'})
        self.assertEqual(sum(n.op_type == 'Conv' for n in model.graph.node), 35)
        for n in model.graph.node:
            if n.op_type == 'Conv':
                self.assertLessEqual({'dilations', 'strides', 'kernel_shape', 'pads'}, {a.name for a in n.attribute})
            if n.op_type == 'Resize':
                self.assertEqual(onnx.helper.get_attribute_value(
                    next(a for a in n.attribute if a.name == 'mode')), b'nearest')
        halves = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
        self.assertGreater(len(halves), 0)

    def test_config_must_match(self):
        _, module = tiny_module()
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(ValueError, 'does not match the module'):
                taehv.export(module, taehv.default_config('taew2_1'), Path(d), 'fp32')
            with self.assertRaisesRegex(ValueError, "`weights` must be 'fp32' or 'fp16'"):
                taehv.export(module, taehv.default_config('tiny'), Path(d), 'int8')


if __name__ == '__main__':
    unittest.main()
