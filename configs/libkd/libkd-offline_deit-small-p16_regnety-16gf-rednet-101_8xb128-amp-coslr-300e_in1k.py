# LIB-KD, offline, on ImageNet-1k: the DeiT-Ti offline config with a
# DeiT-S student; it reads the same store (500 views, top-5 per teacher).
_base_ = ['./libkd-offline_deit-tiny-p16_regnety-16gf-rednet-101_8xb128-'
          'amp-coslr-300e_in1k.py']
model = {{_base_.libkd_student_small}}
