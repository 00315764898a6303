# LIB-KD, online, on ImageNet-1k: the DeiT-Ti config with a DeiT-S student
# (two distillation tokens); same teachers and recipe.
_base_ = ['./libkd_deit-tiny-p16_regnety-16gf-rednet-101_8xb128-amp-coslr-'
          '300e_in1k.py']
model = dict(student={{_base_.libkd_student_small}})
