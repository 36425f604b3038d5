// Pacemaker's executor requests carried out by lrmd. The cluster's
// controller speaks to a remote node in the vocabulary of pacemaker-execd
// (`lrmd_rsc_register`, `lrmd_rsc_exec`, call ids, PCMK_EXEC_* op statuses,
// results broadcast as notifies); lrmd speaks its own protocol through the
// client library. ExecutorBridge translates one into the other and papers
// over the places where lrm's semantics differ from pacemaker-execd's, so
// that the cluster sees what pacemaker-remoted would show it. It knows
// nothing of TLS, sessions or sign-on: lrm-remoted's server owns those and
// hands it the executor requests of signed-on connections.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "lrm/client/client.hpp"
#include "wire/wire.hpp"

namespace lrm::pacemaker {

class ExecutorBridge {
 public:
  /** Sends a notify to every signed-on cluster connection, as pacemaker-execd broadcasts to every client. */
  using Broadcast = std::function<void(const wire::Message& notify)>;

  /**
   * @p lrmd must outlive the bridge; it is used from the caller's thread only.
   * The bridge subscribes it to every instance's events: results of ops it did
   * not submit (an earlier lrm-remoted's, a local tool's) are notified too,
   * for the resources the cluster has named in a request.
   * @throws client::Error as handle().
   */
  ExecutorBridge(client::Client& lrmd, Broadcast broadcast);
  ~ExecutorBridge();
  ExecutorBridge(const ExecutorBridge&) = delete;
  ExecutorBridge& operator=(const ExecutorBridge&) = delete;

  /**
   * Is @p op (an `lrmd_op`) one this bridge answers: lrmd_rsc_info,
   * lrmd_rsc_register, lrmd_rsc_exec, lrmd_rsc_cancel, lrmd_rsc_unregister,
   * lrmd_get_recurring.
   */
  static bool handles(std::string_view op);

  /**
   * Carry out one `<lrmd_command>` whose op handles() accepts and @return
   * its reply: makeReply(@p request_id) filled in (`lrmd_rc`, and what the op
   * returns). Notifies that Pacemaker sends before the reply (a cancel's
   * cancelled result, a register's notify) have been broadcast when this
   * returns. A request lrmd refuses gets the negative errno pacemaker-execd
   * would answer, never an exception.
   * @throws client::Error only when lrmd cannot be reached (`disconnected`,
   * `unreachable`, `timeout`): the caller closes the cluster connections and
   * reconnects to lrmd.
   */
  wire::Message handle(const wire::Message& command, std::uint64_t request_id);

  /**
   * Broadcast the notifies of the lrmd events that have arrived, without
   * waiting. Call it when the client's descriptor() is readable and after
   * every handle(). @throws client::Error as handle().
   */
  void pump();

  /**
   * The last cluster connection went away: cancel the recurring ops of the
   * resources registered with drop_recurring, as pacemaker-execd does.
   * @throws client::Error as handle().
   */
  void lastConnectionClosed();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lrm::pacemaker
