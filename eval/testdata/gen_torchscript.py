#!/usr/bin/python3
"""Tiny TorchScript feature networks for eval's tests (run once, with
Debian's python3-torch):

    cd eval/testdata && /usr/bin/python3 gen_torchscript.py

Writes:
  ts_pooled.pt  forward(x) -> pooled [N, 6]
  ts_tuple.pt   forward(x) -> (pooled [N, 6], [map1 [N, 4, H, W], map2 [N, 6, H/2, W/2]])
  ts_map.pt     forward(x) -> one map [N, 6, H/2, W/2] (pooled = its spatial mean)
  ts_bad.pt     forward(x) -> [N, 6, H] (neither features nor a map)
  ts_dict.pt    forward(x) -> {"pooled": ...} (not a tensor, tuple or list)
  ts_ref.pt     a dict of tensors: the input "x" [2, 3, 8, 8] and the
                expected "pooled", "map1", "map2" of ts_tuple.pt on it.
"""
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

torch.manual_seed(0)


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 6, 3, padding=1, stride=2)

    def maps(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m1 = torch.relu(self.c1(x))
        m2 = torch.tanh(self.c2(m1))
        return m1, m2


class Pooled(Trunk):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps(x)[1].mean(dim=(2, 3))


class TupleNet(Trunk):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        m1, m2 = self.maps(x)
        return m2.mean(dim=(2, 3)), [m1, m2]


class MapNet(Trunk):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps(x)[1]


class BadNet(Trunk):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps(x)[1].mean(dim=3)


class DictNet(Trunk):
    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"pooled": self.maps(x)[1].mean(dim=(2, 3))}


trunk = Trunk()
state = trunk.state_dict()
nets = {}
for name, cls in [("pooled", Pooled), ("tuple", TupleNet), ("map", MapNet), ("bad", BadNet), ("dict", DictNet)]:
    m = cls()
    m.load_state_dict(state)
    m.eval()
    s = torch.jit.script(m)
    s.save("ts_%s.pt" % name)
    nets[name] = m

x = torch.linspace(-1, 1, 2 * 3 * 8 * 8).reshape(2, 3, 8, 8).sin()
with torch.no_grad():
    pooled, (m1, m2) = nets["tuple"](x)
torch.save({"x": x, "pooled": pooled, "map1": m1, "map2": m2}, "ts_ref.pt")
print("pooled", pooled)
