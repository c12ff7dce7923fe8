"""Type aliases for the public signatures."""
from typing import Sequence, Tuple, Union

IntPair = Union[int, Sequence[int]]
Padding = Union[int, str, Sequence[int], Tuple[Tuple[int, int], Tuple[int, int]]]
Activation = Union[None, str, Tuple[str, float]]
