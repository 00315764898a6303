_base_ = 'mmseg::vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(pretrained='checkpoints/vit-b16_student_mmseg.pth')
