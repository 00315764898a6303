# The Fashion-MNIST pipelines' quick profile: 1024 training images in
# batches of 64, 1 epoch, 500 test images (a few minutes per pipeline).
quick_fashion_mnist = {
    'train_dataloader.dataset.indices': 1024,
    'train_dataloader.batch_size': 64,
    'val_dataloader.dataset.indices': 500,
    'test_dataloader.dataset.indices': 500,
    'train_cfg.max_epochs': 1,
    'train_cfg.val_interval': 1,
    'param_scheduler.0.end': 2,
    'default_hooks.logger.interval': 2,
}
