"""A shrunk LIB-KD pipeline on real Fashion-MNIST: the convolution and
involution teachers are trained, then the offline student's stage stores
their labels (``before``: tools/precompute_logits.py, into the stage's
folder) for exactly its training subset and trains on them."""
import json

from conftest import ROOT, run_shrunk_pipeline
from mmengine.config import Config

from mmkd_plugin.utils import load_checkpoint_file, sha256sum


def test_shrunk_libkd_pipeline_precomputes_then_trains_offline(tmp_path):
    full = Config.fromfile(f'{ROOT}/configs/pipelines/fashion_mnist_libkd.py')
    stages = {s['name']: s for s in full.stages}
    assert list(stages) == [
        'teacher_resnet', 'teacher_rednet', 'scratch', 'single', 'online',
        'offline'
    ]
    out, records = run_shrunk_pipeline(
        tmp_path, full,
        [stages[n] for n in ('teacher_resnet', 'teacher_rednet', 'offline')])
    for record in records.values():
        assert 0 <= record['score'] <= 100
    offline = records['offline']
    seconds = offline['columns']['precompute_logits.py (s)']
    assert seconds > 0
    assert f'| {seconds:.3f} |' in (out / 'results.md').read_text()
    index = json.loads((out / 'offline/store/index.json').read_text())
    assert index['complete']
    spec = index['spec']
    # the subset the stage trained on, the teachers the stages trained (in
    # token order: by name)
    assert spec['dataset']['length'] == 256
    assert spec['teachers'] == [
        dict(
            name=name, sha256=sha256sum(records[f'teacher_{name}']['output']))
        for name in ('rednet', 'resnet')
    ]
    assert (spec['num_views'], spec['topk']) == (4, 3)
    # the student trained on the stored labels alone: no teacher in it
    weights = load_checkpoint_file(offline['output'])['state_dict']
    assert weights and all(
        k.startswith(('backbone.', 'head.'))
        for k in weights), sorted(weights)[:5]
    assert weights['backbone.dist_token'].shape[1] == 2
