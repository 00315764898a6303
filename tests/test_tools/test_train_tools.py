"""tools/train.py, test.py, dist_train.sh, extract_student.py on real
Fashion-MNIST: resume, two-process DDP, export, bad input."""
import glob
import json
import os.path as osp
import shutil

import torch
from conftest import KD_CFG, STUDENT_CFG, TINY, run_tool

import mmkd_plugin  # noqa: F401  (allowlists MMEngine checkpoint types)


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def _scalars(work_dir):
    """MMEngine's logged scalars, one dict per logged step."""
    recs = []
    for path in sorted(glob.glob(f'{work_dir}/*/vis_data/scalars.json')):
        with open(path) as f:
            recs += [json.loads(line) for line in f]
    return recs


def test_resume_continues_where_it_stopped(tmp_path):
    """An interrupted run resumed with --resume ends exactly where the
    uninterrupted run ends: same iteration, weights and optimizer state."""
    opts = TINY + ['train_cfg.max_epochs=2']
    full = tmp_path / 'full'
    res = run_tool('tools/train.py', STUDENT_CFG, '--work-dir', str(full),
                   '--no-validate', '--cfg-options', *opts)
    assert res.returncode == 0, res.stderr[-2000:]
    # an interruption after epoch 1 leaves epoch_1.pth as last checkpoint
    cut = tmp_path / 'cut'
    cut.mkdir()
    shutil.copy(full / 'epoch_1.pth', cut / 'epoch_1.pth')
    (cut / 'last_checkpoint').write_text(str(cut / 'epoch_1.pth'))
    res = run_tool('tools/train.py', STUDENT_CFG, '--work-dir', str(cut),
                   '--resume', '--no-validate', '--cfg-options', *opts)
    assert res.returncode == 0, res.stderr[-2000:]
    iters = [r['iter'] for r in _scalars(cut) if 'loss' in r]
    assert iters == [5, 6, 7, 8]  # epoch 2 only: 4 iterations of 32
    a, b = _load(full / 'epoch_2.pth'), _load(cut / 'epoch_2.pth')
    assert a['meta']['iter'] == b['meta']['iter'] == 8
    for k, v in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][k], v, rtol=0, atol=1e-6)
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i]['step'] == sb[i]['step']
        torch.testing.assert_close(
            sb[i]['exp_avg_sq'], sa[i]['exp_avg_sq'], rtol=1e-4, atol=1e-9)
    assert (a['optimizer']['param_groups'][0]['lr'] == b['optimizer']
            ['param_groups'][0]['lr'])


def test_dist_train_two_processes(tmp_path, teacher_ckpt):
    """dist_train.sh CONFIG 2 runs two DDP ranks (gloo on CPU)."""
    work = tmp_path / 'dist'
    res = run_tool(
        'bash',
        'tools/dist_train.sh',
        KD_CFG,
        '2',
        '--work-dir',
        str(work),
        '--cfg-options',
        *TINY,
        f'model.teacher.checkpoint={teacher_ckpt}',
        env=dict(PORT='29533'))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    log = (res.stdout + res.stderr)
    assert 'Distributed training: True' in log
    # 128 images, 2 ranks x 32 per batch: 2 iterations per epoch
    assert 'Epoch(train) [1][2/2]' in log
    ckpt = _load(work / 'epoch_1.pth')
    assert ckpt['meta']['iter'] == 2
    assert all(k.startswith('student.') for k in ckpt['state_dict'])
    assert ckpt['meta']['teachers']['teacher']['source'] == teacher_ckpt


def test_a_finished_run_destroys_its_process_group(tmp_path):
    """A gloo group left to the interpreter's teardown can abort a rank
    (SIGABRT) after a good run; the tools destroy it when the run ends."""
    import torch.distributed as dist

    from mmkd_plugin.utils.cli import run_guarded
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    total = torch.zeros(3)

    def run(_):
        total.add_(1)  # only a run that ran leaves ones
        dist.all_reduce(total)
        assert dist.is_initialized()

    try:
        run_guarded('train.py', str(tmp_path / 'work'), lambda: None, run)
        assert not dist.is_initialized()
    finally:  # a failure here leaves no group to the tests after it
        if dist.is_initialized():
            dist.destroy_process_group()
    assert total.tolist() == [1.0, 1.0, 1.0]  # the run did run


def test_extracted_student_tests_like_the_distiller(tmp_path, teacher_ckpt):
    """extract_student.py -> test.py with the student config gives the
    accuracy the distillation run validated."""
    work = tmp_path / 'kd'
    res = run_tool('tools/train.py', KD_CFG, '--work-dir', str(work),
                   '--cfg-options', *TINY,
                   f'model.teacher.checkpoint={teacher_ckpt}')
    assert res.returncode == 0, res.stderr[-2000:]
    val = [r for r in _scalars(work) if 'accuracy/top1' in r][-1]
    student = tmp_path / 'student.pth'
    res = run_tool('tools/extract_student.py', str(work / 'epoch_1.pth'),
                   str(student))
    assert res.returncode == 0, res.stderr[-2000:]
    exported = _load(student)
    assert {k.split('.')[0]
            for k in exported['state_dict']} == {'backbone', 'head'}
    assert exported['meta']['teachers']['teacher']['source'] == teacher_ckpt
    metrics = tmp_path / 'metrics.json'
    res = run_tool('tools/test.py', STUDENT_CFG, str(student), '--work-dir',
                   str(tmp_path / 'test'), '--out', str(metrics),
                   '--cfg-options', *TINY)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(metrics.read_text())['accuracy/top1']
    assert got == val['accuracy/top1']


def _fails_cleanly(tmp_path, *opts, expect):
    work = tmp_path / 'never'
    res = run_tool('tools/train.py', KD_CFG, '--work-dir', str(work),
                   '--cfg-options', *TINY, *opts)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith('train.py: error:'), res.stderr[-2000:]
    for word in expect:
        assert word in last, last
    assert not osp.exists(work), 'a failed start must leave no work dir'


def test_missing_teacher_checkpoint(tmp_path):
    _fails_cleanly(
        tmp_path,
        'model.teacher.checkpoint=/nowhere/teacher.pth',
        expect=['checkpoint not found', '/nowhere/teacher.pth'])


def test_teacher_checkpoint_of_wrong_model(tmp_path, vit_cfgs):
    from mmpretrain.registry import MODELS
    wrong = tmp_path / 'student_as_teacher.pth'
    torch.save(MODELS.build(vit_cfgs[1]).state_dict(), wrong)
    _fails_cleanly(
        tmp_path,
        f'model.teacher.checkpoint={wrong}',
        expect=[str(wrong), 'does not fit', 'shape mismatch'])


def test_unreadable_teacher_checkpoint(tmp_path):
    bad = tmp_path / 'garbage.pth'
    bad.write_bytes(b'not a checkpoint')
    _fails_cleanly(
        tmp_path,
        f'model.teacher.checkpoint={bad}',
        expect=['cannot read checkpoint', str(bad)])


def test_registry_typo(tmp_path, teacher_ckpt):
    _fails_cleanly(
        tmp_path,
        f'model.teacher.checkpoint={teacher_ckpt}',
        'model.type=LogitKDD',
        expect=['LogitKDD', 'registry'])


def test_unknown_arch(tmp_path, teacher_ckpt):
    _fails_cleanly(
        tmp_path,
        f'model.teacher.checkpoint={teacher_ckpt}',
        'model.student.backbone.arch=vit-gigantic',
        expect=['vit-gigantic'])


def test_extract_refuses_non_distillation_checkpoint(tmp_path, teacher_ckpt):
    out = tmp_path / 'out.pth'
    res = run_tool('tools/extract_student.py', teacher_ckpt, str(out))
    assert res.returncode != 0
    assert 'not a distillation checkpoint' in res.stderr
    assert not out.exists()
