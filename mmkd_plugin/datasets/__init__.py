from .transforms import TwoViewColorJitter

__all__ = ['TwoViewColorJitter']
