from .coding_rate import class_conditional_coding_rate, coding_rate

__all__ = ['class_conditional_coding_rate', 'coding_rate']
