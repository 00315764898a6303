_base_ = 'mmseg::vit/vit_deit-s16_upernet_8xb2-80k_ade20k-512x512.py'
model = dict(pretrained='checkpoints/vit-s16_student_mmseg.pth')
