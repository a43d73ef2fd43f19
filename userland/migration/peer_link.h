// The authenticated TCP stream between two grapped daemons (migration images, job output and
// status, rekeys). Handshake: each side sends a fresh 32-byte nonce, its node id and an ephemeral
// X25519 key; the client, then the server, proves it holds the cluster's operating key with an
// HMAC over both hellos and the Diffie-Hellman secret; the session keys (one per direction) are
// derived from the operating key, both hellos and that secret, so a recorded session can be
// neither replayed nor read later by someone who holds (or once held) the operating key. The
// accepting side tries each key it accepts (during a rekey, the old and the new).
// Frames then travel as libsodium secretstream messages (XChaCha20-Poly1305: encrypted,
// authenticated, in order, truncation detected), each at most kMaxFrame bytes. Anything that
// fails to authenticate or parse breaks the link; nothing half-trusted is returned.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "migration/handoff.h"
#include "membership/wire.h"

namespace grappe {

constexpr size_t kMaxFrame = (2u << 20);     // plaintext bytes of one frame
constexpr size_t kMaxFrameMeta = 64 * 1024;  // its JSON header

// Frame <-> plaintext. decode_frame refuses anything malformed or over the bounds (fuzzed).
std::string encode_frame(const Frame& f);
std::optional<Frame> decode_frame(const uint8_t* p, size_t n);
// The same into existing buffers, reusing their capacity: `out` is overwritten; `f` is
// overwritten when the frame is valid (false: refused, `f` unspecified).
void encode_frame_into(const Frame& f, std::string& out);
bool decode_frame_into(const uint8_t* p, size_t n, Frame& f);

// A link a relay thread polls along with the job's pipes (TcpPeerLink; fakes in tests).
class PollLink : public PeerLink {
 public:
  virtual int fd() const = 0;  // readable when a frame may have arrived
  // True when a frame has started to arrive within `timeout_s` (then recv() takes it); a plain
  // timeout here, unlike one inside recv(), leaves the link intact.
  virtual bool readable(double timeout_s) = 0;
  virtual bool broken() const = 0;
};

class TcpPeerLink final : public PollLink {
 public:
  ~TcpPeerLink() override;
  // Connects and authenticates within `timeout_s`; nullptr with `err` saying why.
  static std::unique_ptr<TcpPeerLink> connect(uint32_t ipv4, uint16_t port, const ClusterKey& key, const NodeId& self,
                                              double timeout_s, std::string& err);
  // Authenticates an accepted connection (takes the fd).
  static std::unique_ptr<TcpPeerLink> accept(int fd, const std::vector<ClusterKey>& keys, const NodeId& self,
                                             double timeout_s, std::string& err);
  bool send(const Frame& f) override;
  std::optional<Frame> recv(double timeout_s) override;
  bool recv_into(Frame& f, double timeout_s) override;
  bool readable(double timeout_s) override;
  bool broken() const override { return broken_; }
  int fd() const override { return fd_; }
  const NodeId& peer() const { return peer_; }

 private:
  struct State;
  explicit TcpPeerLink(int fd);
  bool handshake(bool client, const std::vector<ClusterKey>& keys, const NodeId& self, double timeout_s,
                 std::string& err);
  int fd_;
  NodeId peer_{};
  std::unique_ptr<State> st_;
  bool broken_ = false;
  // Reused across frames: a fresh megabyte per frame costs its page faults again, and under TCG
  // those were a large part of a migration's CPU time.
  std::string tx_plain_;
  std::vector<uint8_t> tx_wire_, rx_wire_, rx_plain_;
};

}  // namespace grappe
