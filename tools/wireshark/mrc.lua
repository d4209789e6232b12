-- Wireshark / tshark dissector for the MRC transport headers (UDP port 4791).
--
--   tshark -X lua_script:tools/wireshark/mrc.lua -r trace.pcap -V
--   wireshark -X lua_script:tools/wireshark/mrc.lua trace.pcap
--
-- Layouts follow crates/mrc-wire/src/mrc (docs/protocol.md section 5.4; they are taken from a
-- third-party emulator and unverified: keep this file in step with that module).
-- The EV is shown as STEV striping: (UDP source port << 16) | (flow label & 0xFFFF) of the
-- innermost IPv6 header.
--
-- RoCEv2 uses the same UDP port: packets whose opcode is not an MRC opcode go to the dissector
-- that had the port before this script (Wireshark's InfiniBand/RoCE one).

local mrc = Proto("mrc", "Multipath Reliable Connection")

local opcodes = {
  [0xC6] = "RDMA_WRITE_FIRST", [0xC7] = "RDMA_WRITE_MIDDLE", [0xC8] = "RDMA_WRITE_LAST",
  [0xC9] = "RDMA_WRITE_LAST_IMM", [0xCA] = "RDMA_WRITE_ONLY", [0xCB] = "RDMA_WRITE_ONLY_IMM",
  [0xD1] = "ACKNOWLEDGE", [0xD8] = "ENDPOINT_REQUEST", [0xD9] = "ENDPOINT_RESPONSE",
  [0xDC] = "RELIABILITY_SACK", [0xDD] = "RELIABILITY_NACK", [0xDE] = "RELIABILITY_PROBE_REQ",
}
local nack_reasons = {
  [0x01] = "TRIMMED", [0x02] = "TRIMMED_LASTHOP", [0x06] = "NO_BITMAP", [0x07] = "NO_PKT_BUFFER",
  [0x0A] = "NO_RESOURCE", [0x0B] = "PSN_OOR_WINDOW", [0x19] = "UNEXP_EVENT",
  -- Vendor range (0xE0 up): ours. 0x1A is UET PDS RCVR_INFER_LOSS, not ours.
  [0xE0] = "WIMM_LIMIT",
}
local marks = { [0] = "NONE", [1] = "SKIP_ONCE", [2] = "ALWAYS_SKIP", [3] = "reserved" }
local endpoint_ops = { [0] = "PORT_STATUS_UPDATE", [1] = "EV_PROBE", [2] = "reserved", [3] = "reserved" }

local f = mrc.fields
f.opcode = ProtoField.uint8("mrc.opcode", "Opcode", base.HEX, opcodes)
f.migreq = ProtoField.bool("mrc.bth.m", "MigReq (M)", 8, nil, 0x80)
f.se = ProtoField.bool("mrc.bth.se", "Solicited event (SE)", 8, nil, 0x40)
f.padcnt = ProtoField.uint8("mrc.bth.padcnt", "Pad count", base.DEC, nil, 0x30)
f.tver = ProtoField.uint8("mrc.bth.tver", "Header version", base.DEC, nil, 0x0F)
f.pkey = ProtoField.uint16("mrc.bth.pkey", "P_Key", base.HEX)
f.destqp = ProtoField.uint24("mrc.bth.destqp", "Destination QP", base.HEX)
f.ackreq = ProtoField.bool("mrc.bth.ackreq", "Ack request (A)", 8, nil, 0x80)
f.rflag = ProtoField.bool("mrc.bth.r", "R", 8, nil, 0x40)
f.rtx = ProtoField.bool("mrc.bth.rtx", "Retransmission (rtx)", 8, nil, 0x20)
f.ts = ProtoField.bool("mrc.bth.ts", "TSETH present (ts)", 8, nil, 0x10)
f.psn = ProtoField.uint24("mrc.psn", "PSN", base.DEC)
f.ev = ProtoField.uint32("mrc.ev", "EV (entropy value)", base.HEX)
f.rqmsn = ProtoField.uint16("mrc.meth.rqmsn", "RQMSN", base.DEC)
f.msn = ProtoField.uint16("mrc.meth.msn", "MSN", base.DEC)
f.tx_ts = ProtoField.uint16("mrc.tx_timestamp", "Tx timestamp", base.DEC)
f.tsr = ProtoField.bool("mrc.tsr", "tsr", 16, nil, 0x8000)
f.ftype = ProtoField.uint16("mrc.ftype", "Format type", base.DEC, nil, 0x000F)
f.va = ProtoField.uint64("mrc.reth.va", "Virtual address", base.HEX)
f.rkey = ProtoField.uint32("mrc.reth.rkey", "R_Key", base.HEX)
f.dmalen = ProtoField.uint32("mrc.reth.dmalen", "DMA length", base.DEC)
f.imm = ProtoField.uint32("mrc.immdt", "Immediate data", base.HEX)
f.syndrome = ProtoField.uint8("mrc.aeth.syndrome", "Syndrome", base.HEX)
f.aeth_msn = ProtoField.uint24("mrc.aeth.msn", "MSN", base.DEC)
f.hdr_type = ProtoField.uint8("mrc.type", "Type", base.DEC, nil, 0xF0)
f.next_hdr = ProtoField.uint16("mrc.next_hdr", "Next header", base.DEC, nil, 0x0F80)
f.mark = ProtoField.uint8("mrc.seth.m", "Path mark (M)", base.DEC, marks, 0x60)
f.pr = ProtoField.bool("mrc.seth.pr", "pr", 8, nil, 0x02)
f.ack_psn_offset = ProtoField.int16("mrc.seth.ack_psn_offset", "Ack PSN offset", base.DEC)
f.ack_psn = ProtoField.uint24("mrc.seth.ack_psn", "Ack PSN", base.DEC)
f.entropy = ProtoField.uint32("mrc.entropy", "Entropy (EV echoed)", base.HEX)
f.spdcid = ProtoField.uint16("mrc.spdcid", "Source PDC id", base.HEX)
f.dpdcid = ProtoField.uint16("mrc.dpdcid", "Destination PDC id", base.HEX)
f.cack_psn = ProtoField.uint24("mrc.seth.cack_psn", "Cumulative ack PSN", base.DEC)
f.cc_type = ProtoField.uint8("mrc.cc_type", "CC type", base.DEC, nil, 0xF0)
f.cc_flags = ProtoField.uint8("mrc.cc_flags", "CC flags", base.HEX, nil, 0x0F)
f.mpr = ProtoField.uint8("mrc.seth.mpr", "MPR (x128 PSNs)", base.DEC)
f.sack_offset = ProtoField.int16("mrc.seth.sack_offset", "SACK offset", base.DEC)
f.sack_base = ProtoField.uint24("mrc.seth.sack_base", "SACK bitmap base PSN", base.DEC)
f.sack_bitmap = ProtoField.uint64("mrc.seth.sack_bitmap", "SACK bitmap", base.HEX)
f.ooo_count = ProtoField.uint16("mrc.cc.ooo_count", "Out-of-order count", base.DEC, nil, 0x7FFF)
f.r_c = ProtoField.bool("mrc.cc.r_c", "r_c", 8, nil, 0x80)
f.pen = ProtoField.uint8("mrc.cc.rcv_cwnd_pen", "Responder window penalty", base.DEC, nil, 0x7F)
f.rcvd = ProtoField.uint24("mrc.cc.rcvd_bytes", "Received bytes (units)", base.DEC)
f.reason = ProtoField.uint8("mrc.neth.reason", "NACK reason", base.HEX, nack_reasons)
f.vendor = ProtoField.uint8("mrc.vendor_info", "Vendor info", base.HEX)
f.nack_psn = ProtoField.uint24("mrc.neth.nack_psn", "NACKed PSN", base.DEC)
f.probe_id = ProtoField.uint16("mrc.peth.probe_id", "Probe id", base.DEC)
f.ep_id = ProtoField.uint16("mrc.endpoint.id", "Request id (PSN[15:0])", base.DEC)
f.erth_op = ProtoField.uint8("mrc.erth.op", "Operation", base.DEC, endpoint_ops, 0x03)
f.eeth_op = ProtoField.uint8("mrc.eeth.op", "Operation", base.DEC, endpoint_ops, 0x30)
f.port_mask = ProtoField.uint32("mrc.erth.port_status_mask", "Port status mask", base.HEX)
f.payload = ProtoField.bytes("mrc.payload", "Payload")
f.payload_len = ProtoField.uint32("mrc.payload_len", "Payload length", base.DEC)
f.icrc = ProtoField.uint32("mrc.icrc", "ICRC", base.HEX)

local ef_short = ProtoExpert.new("mrc.short", "Packet shorter than its headers (trimmed or truncated)",
  expert.group.MALFORMED, expert.severity.WARN)
local ef_trimmed = ProtoExpert.new("mrc.trimmed", "Trimmed: payload cut by a switch",
  expert.group.SEQUENCE, expert.severity.NOTE)
mrc.experts = { ef_short, ef_trimmed }

local udp_srcport = Field.new("udp.srcport")
local ipv6_flow = Field.new("ipv6.flow")

local function current_ev()
  local sport = udp_srcport()
  local flows = { ipv6_flow() }
  if not sport or #flows == 0 then return nil end
  local flow = flows[#flows]()
  return bit32.bor(bit32.lshift(sport(), 16), bit32.band(flow, 0xFFFF))
end

-- Adds a fixed-length header subtree; returns its offset end, or nil if the capture is short.
local function need(tvb, tree, off, len)
  if tvb:len() < off + len then
    tree:add_proto_expert_info(ef_short)
    return false
  end
  return true
end

local function type_next(t, r)
  t:add(f.hdr_type, r(0, 1))
  t:add(f.next_hdr, r(0, 2))
end

local function dissect_tseth(tvb, tree, off)
  local r = tvb(off, 4)
  local t = tree:add(mrc, r, "TSETH")
  t:add(f.tx_ts, r(0, 2)); t:add(f.tsr, r(2, 2)); t:add(f.ftype, r(2, 2))
end

local function dissect_seth(tvb, tree, off, info)
  local r = tvb(off, 36)
  local t = tree:add(mrc, r(0, 28), "SETH")
  type_next(t, r)
  t:add(f.mark, r(1, 1)); t:add(f.pr, r(1, 1))
  local cack = r(13, 3):uint()
  local ack_off = r(2, 2):int()
  t:add(f.ack_psn_offset, r(2, 2))
  t:add(f.ack_psn, r(2, 2), (cack + ack_off) % 0x1000000):set_generated()
  t:add(f.entropy, r(4, 4)); t:add(f.spdcid, r(8, 2)); t:add(f.dpdcid, r(10, 2))
  t:add(f.cack_psn, r(13, 3))
  t:add(f.cc_type, r(16, 1)); t:add(f.cc_flags, r(16, 1)); t:add(f.mpr, r(17, 1))
  local sack_off = r(18, 2):int()
  t:add(f.sack_offset, r(18, 2))
  t:add(f.sack_base, r(18, 2), (cack + sack_off) % 0x1000000):set_generated()
  t:add(f.sack_bitmap, r(20, 8))
  local c = tree:add(mrc, r(28, 8), "CC_STATE")
  c:add(f.tx_ts, r(28, 2)); c:add(f.ooo_count, r(30, 2)); c:add(f.r_c, r(32, 1))
  c:add(f.pen, r(32, 1)); c:add(f.rcvd, r(33, 3))
  info[#info + 1] = string.format("cack=%d bitmap=0x%s M=%s", cack, r(20, 8):bytes():tohex(),
    marks[bit32.rshift(bit32.band(r(1, 1):uint(), 0x60), 5)])
end

local function dissect_neth(tvb, tree, off, info)
  local r = tvb(off, 20)
  local t = tree:add(mrc, r, "NETH")
  type_next(t, r)
  t:add(f.reason, r(2, 1)); t:add(f.vendor, r(3, 1)); t:add(f.entropy, r(4, 4))
  t:add(f.spdcid, r(8, 2)); t:add(f.dpdcid, r(10, 2)); t:add(f.nack_psn, r(13, 3))
  t:add(f.cc_type, r(16, 1)); t:add(f.cc_flags, r(16, 1)); t:add(f.tx_ts, r(18, 2))
  local reason = r(2, 1):uint()
  info[#info + 1] = string.format("reason=%s nack_psn=%d", nack_reasons[reason] or
    string.format("0x%02x", reason), r(13, 3):uint())
end

local function dissect_peth(tvb, tree, off, info)
  local r = tvb(off, 16)
  local t = tree:add(mrc, r, "PETH")
  type_next(t, r)
  t:add(f.vendor, r(3, 1)); t:add(f.probe_id, r(4, 2)); t:add(f.spdcid, r(8, 2))
  t:add(f.dpdcid, r(10, 2)); t:add(f.tx_ts, r(12, 2)); t:add(f.tsr, r(14, 2))
  t:add(f.ftype, r(14, 2))
  info[#info + 1] = string.format("probe_id=%d", r(4, 2):uint())
end

-- Endpoint requests and responses carry their (probe) id in PSN[15:0].
local function endpoint_id(tvb, t, info)
  t:add(f.ep_id, tvb(10, 2))
  info[#info + 1] = string.format("id=%d", tvb(10, 2):uint())
end

local function dissect_erth(tvb, tree, off, info)
  local r = tvb(off, 16)
  local t = tree:add(mrc, r, "ERTH")
  type_next(t, r)
  endpoint_id(tvb, t, info)
  t:add(f.erth_op, r(1, 1)); t:add(f.vendor, r(3, 1)); t:add(f.port_mask, r(4, 4))
  t:add(f.tx_ts, r(12, 2)); t:add(f.tsr, r(14, 2)); t:add(f.ftype, r(14, 2))
  info[#info + 1] = endpoint_ops[bit32.band(r(1, 1):uint(), 3)]
end

local function dissect_eeth(tvb, tree, off, info)
  local r = tvb(off, 36)
  local t = tree:add(mrc, r, "EETH")
  type_next(t, r)
  endpoint_id(tvb, t, info)
  t:add(f.eeth_op, r(1, 1)); t:add(f.tx_ts, r(28, 2))
  info[#info + 1] = endpoint_ops[bit32.band(bit32.rshift(r(1, 1):uint(), 4), 3)]
end

-- Length of the headers after BTH, by opcode (TSETH and ImmDt handled separately).
local ext_len = { [0xD1] = 4, [0xD8] = 16, [0xD9] = 36, [0xDC] = 36, [0xDD] = 20, [0xDE] = 16 }

-- Whoever dissected UDP 4791 before us (RoCEv2), for the opcodes that are not MRC's.
local roce = DissectorTable.get("udp.port"):get_dissector(4791)

function mrc.dissector(tvb, pinfo, tree)
  local opcode = tvb:len() >= 1 and tvb(0, 1):uint() or nil
  if not (opcode and opcodes[opcode]) then
    if roce then return roce:call(tvb, pinfo, tree) end
    return 0
  end
  if tvb:len() < 12 then return 0 end
  pinfo.cols.protocol = "MRC"
  local root = tree:add(mrc, tvb(), "MRC, " .. opcodes[opcode])
  local info = { opcodes[opcode] }

  local b = tvb(0, 12)
  local bth = root:add(mrc, b, "BTH")
  bth:add(f.opcode, b(0, 1)); bth:add(f.migreq, b(1, 1)); bth:add(f.se, b(1, 1))
  bth:add(f.padcnt, b(1, 1)); bth:add(f.tver, b(1, 1)); bth:add(f.pkey, b(2, 2))
  bth:add(f.destqp, b(5, 3)); bth:add(f.ackreq, b(8, 1)); bth:add(f.rflag, b(8, 1))
  bth:add(f.rtx, b(8, 1)); bth:add(f.ts, b(8, 1)); bth:add(f.psn, b(9, 3))
  local psn = b(9, 3):uint()
  local flags = b(8, 1):uint()
  info[#info + 1] = string.format("PSN=%d", psn)
  local ev = current_ev()
  if ev then
    root:add(f.ev, ev):set_generated()
    info[#info + 1] = string.format("EV=0x%x", ev)
  end
  if bit32.band(flags, 0x20) ~= 0 then info[#info + 1] = "[rtx]" end

  local off = 12
  local is_write = opcode >= 0xC6 and opcode <= 0xCB
  if is_write then
    local with_ts = bit32.band(flags, 0x10) ~= 0
    local with_imm = opcode == 0xC9 or opcode == 0xCB
    local hdr = 4 + (with_ts and 4 or 0) + 16 + (with_imm and 4 or 0)
    if not need(tvb, root, off, hdr) then
      pinfo.cols.info = table.concat(info, " ")
      return tvb:len()
    end
    local m = tvb(off, 4)
    local mt = root:add(mrc, m, "METH")
    mt:add(f.rqmsn, m(0, 2)); mt:add(f.msn, m(2, 2))
    off = off + 4
    if with_ts then dissect_tseth(tvb, root, off); off = off + 4 end
    local r = tvb(off, 16)
    local rt = root:add(mrc, r, "RETH")
    rt:add(f.va, r(0, 8)); rt:add(f.rkey, r(8, 4)); rt:add(f.dmalen, r(12, 4))
    info[#info + 1] = string.format("va=0x%s rkey=0x%x", r(0, 8):bytes():tohex(), r(8, 4):uint())
    off = off + 16
    if with_imm then root:add(f.imm, tvb(off, 4)); off = off + 4 end
    -- Payload runs up to the 4-byte ICRC at the end of the packet on the wire.
    local reported = tvb:reported_len()
    local payload_len = reported - off - 4
    if payload_len < 0 then payload_len = 0 end
    root:add(f.payload_len, payload_len):set_generated()
    if payload_len == 0 then
      root:add_proto_expert_info(ef_trimmed)
      info[#info + 1] = "[trimmed]"
    end
    local captured = math.min(payload_len, tvb:len() - off)
    if captured > 0 then root:add(f.payload, tvb(off, captured)) end
    if tvb:len() < reported then
      info[#info + 1] = string.format("len=%d", payload_len)
    elseif reported >= off + 4 then
      root:add(f.icrc, tvb(reported - 4, 4))
    end
  else
    local len = ext_len[opcode]
    if not need(tvb, root, off, len) then
      pinfo.cols.info = table.concat(info, " ")
      return tvb:len()
    end
    if opcode == 0xD1 then
      local a = tvb(off, 4)
      local at = root:add(mrc, a, "AETH")
      at:add(f.syndrome, a(0, 1)); at:add(f.aeth_msn, a(1, 3))
    elseif opcode == 0xDC then dissect_seth(tvb, root, off, info)
    elseif opcode == 0xDD then dissect_neth(tvb, root, off, info)
    elseif opcode == 0xDE then dissect_peth(tvb, root, off, info)
    elseif opcode == 0xD8 then dissect_erth(tvb, root, off, info)
    elseif opcode == 0xD9 then dissect_eeth(tvb, root, off, info)
    end
    off = off + len
    if tvb:len() >= off + 4 then root:add(f.icrc, tvb(off, 4)) end
  end
  pinfo.cols.info = table.concat(info, " ")
  return tvb:len()
end

DissectorTable.get("udp.port"):add(4791, mrc)
