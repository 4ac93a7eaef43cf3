package events

import (
	"fmt"
	"strings"
	"testing"
)

// keySlot is Redis Cluster's slot of key (CRC16/XMODEM of the hash tag, or
// of the whole key, modulo 16384), written out from the cluster spec so
// the test checks the layout without a cluster.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestKeySlotKnownValues(t *testing.T) {
	// Values from the cluster specification's examples and CLUSTER KEYSLOT.
	for key, want := range map[string]int{"123456789": 0x31C3 % 16384, "foo": 12182, "{user1000}.following": 3443, "{user1000}.followers": 3443} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestOneShardKeepsTodaysNames(t *testing.T) {
	s := OneShard("update_model")
	if s.Stream(0) != "update_model" || s.Prefix(0) != "update_model" || s.SpecKey("ab") != "update_model:spec:ab" ||
		s.ModelsKey(0) != "update_model:models" {
		t.Fatalf("one shard on a plain Redis renamed a key: %q %q %q %q", s.Stream(0), s.Prefix(0), s.SpecKey("ab"), s.ModelsKey(0))
	}
	for _, m := range []string{"default", "a", "zz-top", "m123"} {
		if s.Of(m) != 0 {
			t.Errorf("one shard: %q on shard %d", m, s.Of(m))
		}
	}
}

func TestClusterKeysOfAShardShareOneSlot(t *testing.T) {
	for _, n := range []int{1, 3, 16} {
		s, err := NewShards("update_model", n, true)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			slot := keySlot(s.Stream(i))
			for _, k := range []string{s.Prefix(i) + ":dead", s.ModelsKey(i), SpecKey(s.Prefix(i), "x"), s.Prefix(i) + ":model:x"} {
				if keySlot(k) != slot {
					t.Errorf("%d shards: %s is in slot %d, its stream %s in %d", n, k, keySlot(k), s.Stream(i), slot)
				}
			}
		}
		if keySlot(s.ShardsKey()) != keySlot(s.Stream(0)) {
			t.Errorf("the shards key %s is not on shard 0's slot", s.ShardsKey())
		}
	}
}

func TestShardOfIsStableAndSpreads(t *testing.T) {
	s, _ := NewShards("update_model", 3, true)
	per := make([]int, 3)
	for i := range 3000 {
		m := fmt.Sprintf("m%d", i)
		a := s.Of(m)
		if a != s.Of(m) || a < 0 || a >= 3 {
			t.Fatalf("Of(%q) = %d, then %d", m, a, s.Of(m))
		}
		per[a]++
	}
	for i, c := range per {
		if c < 800 || c > 1200 {
			t.Errorf("shard %d got %d of 3000 models: %v", i, c, per)
		}
	}
	if s.Of(DefaultModel) != 0 {
		t.Errorf("the default model is on shard %d", s.Of(DefaultModel))
	}
	// The hash is part of the data's layout: a change would move models.
	// FNV-1a/32 of "ab" is 0x4d2505ca (the published test vectors).
	if got := s.Of("ab"); got != 0x4d2505ca%3 {
		t.Errorf("Of(ab) = %d: the placement function changed, and with it every stored model's shard", got)
	}
}

func TestNewShardsRefusesBadCounts(t *testing.T) {
	for _, n := range []int{0, -1, MaxShards + 1} {
		if _, err := NewShards("s", n, false); err == nil {
			t.Errorf("NewShards(%d) accepted", n)
		}
	}
	if _, err := NewShards("", 1, false); err == nil {
		t.Error("empty stream accepted")
	}
}
