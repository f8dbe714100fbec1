import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.catalina.tribes.ByteMessage;
import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.ChannelInterceptor;
import org.apache.catalina.tribes.ChannelListener;
import org.apache.catalina.tribes.ChannelMessage;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.MembershipListener;
import org.apache.catalina.tribes.group.ChannelInterceptorBase;
import org.apache.catalina.tribes.group.GroupChannel;
import org.apache.catalina.tribes.group.InterceptorPayload;
import org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor;
import org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor;
import org.apache.catalina.tribes.membership.McastService;
import org.apache.catalina.tribes.membership.StaticMember;
import org.apache.catalina.tribes.transport.ReplicationTransmitter;
import org.apache.catalina.tribes.transport.nio.NioReceiver;
import org.apache.catalina.tribes.transport.nio.PooledParallelSender;
import org.apache.catalina.tribes.UniqueId;
import org.apache.tomcat.util.IntrospectionUtils;

/**
 * A real Java Tribes member for the interop bed, driven from the command line, reporting JSON lines.
 *
 * <pre>
 * java TribesPeer [mode] [options]
 *   mode: member (default) | echo | sink | send
 *   --mcast-address 228.0.0.4 --mcast-port 45564 --mcast-bind IP --frequency 500 --drop-time 3000
 *   --domain STR --ttl N --no-mcast (start without membership service: static members only)
 *   --unique-id HEX (16 bytes: fixed local member id, e.g. for static membership)
 *   --address IP --port 4000 --auto-bind 100 --selector-timeout 5000 --max-threads 6
 *   --interceptors TcpFailureDetector,MessageDispatchInterceptor[,GzipInterceptor,...] (in order; "none")
 *   --iprop Name.key=value   property of an interceptor (simple class name)
 *   --mcast-prop k=v --receiver-prop k=v --sender-prop k=v --channel-prop k=v
 *   --static host:port:uniqueIdHex[:domain]  (adds a StaticMembershipInterceptor, repeatable)
 *   send: --count N --size S --options O --to host:port|all --wait-members K --wait-timeout SEC
 *   sink: --duration SEC --expect N
 *   --quiet-messages (no per-message events) --exit-after-send
 * stdin commands (one per line): send N S OPTIONS [host:port|all] [zeros] | members | quit
 *   (payload: java.util.Random(42).nextBytes, or all zero bytes with "zeros": compressible)
 * </pre>
 * Events: ready, memberAdded, memberDisappeared, message, sendDone, sinkTotals, members, error, stopped.
 */
public class TribesPeer {

    static final PrintStream OUT = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
            StandardCharsets.UTF_8);
    static final long T0 = System.currentTimeMillis();

    static synchronized void emit(String json) {
        OUT.println(json);
        OUT.flush();
    }

    // ---------------------------------------------------------------- JSON helpers
    static String q(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20 || c > 0x7e) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    static String hex(byte[] b) {
        if (b == null) {
            return "";
        }
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static byte[] unhex(String h) {
        byte[] out = new byte[h.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    static String sha256(byte[] b, int off, int len) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(b, off, len);
            return hex(md.digest());
        } catch (Exception e) {
            return "";
        }
    }

    static String host(byte[] h) {
        if (h == null) {
            return "";
        }
        try {
            return java.net.InetAddress.getByAddress(h).getHostAddress();
        } catch (Exception e) {
            return hex(h);
        }
    }

    static String memberJson(Member m) {
        return "\"host\":" + q(host(m.getHost())) + ",\"port\":" + m.getPort() + ",\"securePort\":" + m.getSecurePort()
                + ",\"udpPort\":" + m.getUdpPort() + ",\"uniqueId\":" + q(hex(m.getUniqueId())) + ",\"domain\":"
                + q(new String(m.getDomain() == null ? new byte[0] : m.getDomain(), StandardCharsets.ISO_8859_1))
                + ",\"domainHex\":" + q(hex(m.getDomain())) + ",\"payloadHex\":" + q(hex(m.getPayload()))
                + ",\"alive\":" + m.getMemberAliveTime() + ",\"name\":" + q(m.getName());
    }

    static String ev(String name, String rest) {
        return "{\"event\":" + q(name) + ",\"t\":" + (System.currentTimeMillis() - T0) + (rest.isEmpty() ? "" : "," + rest)
                + "}";
    }

    // ---------------------------------------------------------------- options
    String mode = "member";
    String mcastAddress = "228.0.0.4";
    int mcastPort = 45564;
    String mcastBind = null;
    long frequency = 500;
    long dropTime = 3000;
    String domain = null;
    Integer ttl = null;
    boolean noMcast = false;
    String uniqueId = null;
    String address = null;
    int port = 4000;
    int autoBind = 100;
    long selectorTimeout = 5000;
    int maxThreads = 6;
    String interceptors = "TcpFailureDetector,MessageDispatchInterceptor";
    List<String[]> iprops = new ArrayList<>();
    List<String[]> mcastProps = new ArrayList<>();
    List<String[]> receiverProps = new ArrayList<>();
    List<String[]> senderProps = new ArrayList<>();
    List<String[]> channelProps = new ArrayList<>();
    List<String> statics = new ArrayList<>();
    int count = 1000;
    int size = 1024;
    int options = Channel.SEND_OPTIONS_BYTE_MESSAGE | Channel.SEND_OPTIONS_USE_ACK;
    String to = "all";
    int waitMembers = 1;
    double waitTimeout = 60;
    double duration = 0;
    long expect = 0;
    boolean quietMessages = false;
    boolean exitAfterSend = false;

    final GroupChannel channel = new GroupChannel();
    final List<ChannelInterceptor> stack = new ArrayList<>();
    final ExecutorService replies = Executors.newSingleThreadExecutor();
    final AtomicLong rxMessages = new AtomicLong();
    final AtomicLong rxBytes = new AtomicLong();
    volatile long firstRx = 0;
    volatile long lastRx = 0;
    final Object done = new Object();

    /** Options and raw payload of the message being delivered (receive path is synchronous up to the listener). */
    static final ThreadLocal<ChannelMessage> CURRENT = new ThreadLocal<>();

    /** Top interceptor: remembers the raw ChannelMessage so the listener can report options, size, digest. */
    static class Tap extends ChannelInterceptorBase {
        @Override
        public void messageReceived(ChannelMessage msg) {
            CURRENT.set(msg);
            try {
                super.messageReceived(msg);
            } finally {
                CURRENT.remove();
            }
        }
    }

    /**
     * Sits right below the MessageDispatchInterceptor and records the uniqueId of every message whose send has
     * finished (successfully or not), so that "send" can wait until its asynchronous messages are really out.
     * MessageDispatchInterceptor.getCurrentSize() cannot tell: it adds the length of the queued message after
     * handing it to the dispatch thread and subtracts the length the message has after the interceptors below
     * (Gzip, Order, Fragmentation) have changed it, so it drifts and can stay above zero forever.
     */
    static class SendTracker extends ChannelInterceptorBase {
        final Set<UniqueId> finished = ConcurrentHashMap.newKeySet();
        volatile boolean tracking = false;

        @Override
        public void sendMessage(Member[] destination, ChannelMessage msg, InterceptorPayload payload)
                throws org.apache.catalina.tribes.ChannelException {
            try {
                super.sendMessage(destination, msg, payload);
            } finally {
                if (tracking) { // the interceptors below may change the message, never its uniqueId
                    synchronized (this) {
                        finished.add(new UniqueId(msg.getUniqueId()));
                        notifyAll();
                    }
                }
            }
        }

        /** Wait until every id in ids has finished; false after timeoutMs. */
        synchronized boolean awaitAll(List<UniqueId> ids, long timeoutMs) throws InterruptedException {
            long end = System.currentTimeMillis() + timeoutMs;
            while (finished.size() < ids.size() || !finished.containsAll(ids)) { // size first: O(1) per wake-up
                long left = end - System.currentTimeMillis();
                if (left <= 0) {
                    return false;
                }
                wait(Math.min(left, 100));
            }
            return true;
        }
    }

    SendTracker tracker = null;

    static String[] kv(String s) {
        int i = s.indexOf('=');
        if (i < 0) {
            throw new IllegalArgumentException("expected key=value, got " + s);
        }
        return new String[] { s.substring(0, i), s.substring(i + 1) };
    }

    void parse(String[] args) {
        int i = 0;
        if (args.length > 0 && !args[0].startsWith("--")) {
            mode = args[0];
            i = 1;
        }
        for (; i < args.length; i++) {
            String a = args[i];
            String v = null;
            if (a.contains("=") && a.startsWith("--") && !a.startsWith("--iprop") && !a.endsWith("-prop")) {
                v = a.substring(a.indexOf('=') + 1);
                a = a.substring(0, a.indexOf('='));
            }
            boolean flag = a.equals("--no-mcast") || a.equals("--quiet-messages") || a.equals("--exit-after-send");
            if (!flag && v == null) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("missing value for " + a);
                }
                v = args[++i];
            }
            switch (a) {
                case "--mcast-address": mcastAddress = v; break;
                case "--mcast-port": mcastPort = Integer.parseInt(v); break;
                case "--mcast-bind": mcastBind = v; break;
                case "--frequency": frequency = Long.parseLong(v); break;
                case "--drop-time": dropTime = Long.parseLong(v); break;
                case "--domain": domain = v; break;
                case "--ttl": ttl = Integer.valueOf(v); break;
                case "--no-mcast": noMcast = true; break;
                case "--unique-id": uniqueId = v; break;
                case "--address": address = v; break;
                case "--port": port = Integer.parseInt(v); break;
                case "--auto-bind": autoBind = Integer.parseInt(v); break;
                case "--selector-timeout": selectorTimeout = Long.parseLong(v); break;
                case "--max-threads": maxThreads = Integer.parseInt(v); break;
                case "--interceptors": interceptors = v; break;
                case "--iprop": iprops.add(kv(v)); break;
                case "--mcast-prop": mcastProps.add(kv(v)); break;
                case "--receiver-prop": receiverProps.add(kv(v)); break;
                case "--sender-prop": senderProps.add(kv(v)); break;
                case "--channel-prop": channelProps.add(kv(v)); break;
                case "--static": statics.add(v); break;
                case "--count": count = Integer.parseInt(v); break;
                case "--size": size = Integer.parseInt(v); break;
                case "--options": options = Integer.decode(v); break;
                case "--to": to = v; break;
                case "--wait-members": waitMembers = Integer.parseInt(v); break;
                case "--wait-timeout": waitTimeout = Double.parseDouble(v); break;
                case "--duration": duration = Double.parseDouble(v); break;
                case "--expect": expect = Long.parseLong(v); break;
                case "--quiet-messages": quietMessages = true; break;
                case "--exit-after-send": exitAfterSend = true; break;
                default: throw new IllegalArgumentException("unknown option " + a);
            }
        }
        if (!Arrays.asList("member", "echo", "sink", "send").contains(mode)) {
            throw new IllegalArgumentException("unknown mode " + mode + " (member|echo|sink|send)");
        }
    }

    static void setProp(Object target, String[] kv) {
        if (!IntrospectionUtils.setProperty(target, kv[0], kv[1])) {
            throw new IllegalArgumentException("no property " + kv[0] + " on " + target.getClass().getName());
        }
    }

    static String pkg(String name) {
        return name.contains(".") ? name : "org.apache.catalina.tribes.group.interceptors." + name;
    }

    void build() throws Exception {
        McastService mcast = (McastService) channel.getMembershipService();
        mcast.setAddress(mcastAddress);
        mcast.setPort(mcastPort);
        if (mcastBind != null) {
            mcast.setBind(mcastBind);
        }
        mcast.setFrequency(frequency);
        mcast.setDropTime(dropTime);
        if (domain != null) {
            mcast.setDomain(domain);
        }
        if (ttl != null) {
            mcast.setTtl(ttl);
        }
        for (String[] p : mcastProps) {
            setProp(mcast, p);
        }
        NioReceiver rx = (NioReceiver) channel.getChannelReceiver();
        if (address != null) {
            rx.setAddress(address);
        }
        rx.setPort(port);
        rx.setAutoBind(autoBind);
        rx.setSelectorTimeout(selectorTimeout);
        rx.setMaxThreads(maxThreads);
        rx.setMinThreads(Math.min(maxThreads, rx.getMinThreads()));
        for (String[] p : receiverProps) {
            setProp(rx, p);
        }
        ReplicationTransmitter tx = (ReplicationTransmitter) channel.getChannelSender();
        PooledParallelSender transport = new PooledParallelSender();
        tx.setTransport(transport);
        for (String[] p : senderProps) {
            setProp(transport, p);
        }
        for (String[] p : channelProps) {
            setProp(channel, p);
        }
        channel.addInterceptor(new Tap());
        if (!interceptors.isEmpty() && !interceptors.equals("none")) {
            for (String name : interceptors.split(",")) {
                name = name.trim();
                ChannelInterceptor ci = (ChannelInterceptor) Class.forName(pkg(name)).getDeclaredConstructor().newInstance();
                for (String[] p : iprops) {
                    int dot = p[0].indexOf('.');
                    if (dot > 0 && p[0].substring(0, dot).equals(name)) {
                        setProp(ci, new String[] { p[0].substring(dot + 1), p[1] });
                    }
                }
                channel.addInterceptor(ci);
                stack.add(ci);
                if (ci instanceof MessageDispatchInterceptor && tracker == null) {
                    tracker = new SendTracker(); // pass-through, not listed in the "ready" event's stack
                    channel.addInterceptor(tracker);
                }
            }
        }
        if (!statics.isEmpty()) {
            StaticMembershipInterceptor smi = null;
            for (ChannelInterceptor ci : stack) {
                if (ci instanceof StaticMembershipInterceptor) {
                    smi = (StaticMembershipInterceptor) ci;
                }
            }
            if (smi == null) {
                smi = new StaticMembershipInterceptor();
                channel.addInterceptor(smi);
                stack.add(smi);
            }
            for (String s : statics) {
                String[] f = s.split(":");
                StaticMember m = new StaticMember();
                m.setHost(f[0]);
                m.setPort(Integer.parseInt(f[1]));
                m.setUniqueId(unhex(f[2]));
                if (f.length > 3) {
                    m.setDomain(f[3]);
                }
                smi.addStaticMember(m);
            }
        }
        channel.addMembershipListener(new MembershipListener() {
            @Override
            public void memberAdded(Member member) {
                emit(ev("memberAdded", memberJson(member)));
            }

            @Override
            public void memberDisappeared(Member member) {
                emit(ev("memberDisappeared", memberJson(member)));
            }
        });
        channel.addChannelListener(new ChannelListener() {
            @Override
            public boolean accept(Serializable msg, Member sender) {
                return true;
            }

            @Override
            public void messageReceived(Serializable msg, Member sender) {
                received(msg, sender);
            }
        });
    }

    void received(Serializable msg, Member sender) {
        ChannelMessage raw = CURRENT.get();
        int opts = raw == null ? -1 : raw.getOptions();
        int len = raw == null ? -1 : raw.getMessage().getLength();
        long now = System.nanoTime();
        if (firstRx == 0) {
            firstRx = now;
        }
        lastRx = now;
        // bytes before the count: receiver threads run concurrently, and the thread that sees the
        // expected count must see every message's bytes added (else the totals miss one in flight)
        rxBytes.addAndGet(Math.max(len, 0));
        long n = rxMessages.incrementAndGet();
        if (!quietMessages && !mode.equals("sink")) {
            StringBuilder b = new StringBuilder();
            b.append("\"sender\":{").append(memberJson(sender)).append("},\"options\":").append(opts).append(",\"size\":")
                    .append(len);
            if (raw != null) {
                b.append(",\"sha256\":").append(q(sha256(raw.getMessage().getBytesDirect(), 0, len)));
                b.append(",\"uniqueId\":").append(q(hex(raw.getUniqueId())));
            }
            b.append(",\"class\":").append(q(msg == null ? null : msg.getClass().getName()));
            if (!(msg instanceof ByteMessage)) {
                String v = msg instanceof byte[] ? "byte[" + ((byte[]) msg).length + "] " + hex(Arrays.copyOf((byte[]) msg,
                        Math.min(64, ((byte[]) msg).length))) : String.valueOf(msg);
                b.append(",\"value\":").append(q(v.length() > 300 ? v.substring(0, 300) + "..." : v));
            }
            if (msg instanceof org.apache.catalina.ha.session.SessionMessage) {
                org.apache.catalina.ha.session.SessionMessage sm = (org.apache.catalina.ha.session.SessionMessage) msg;
                b.append(",\"eventType\":").append(sm.getEventType()).append(",\"eventTypeString\":")
                        .append(q(sm.getEventTypeString())).append(",\"contextName\":").append(q(sm.getContextName()))
                        .append(",\"sessionId\":").append(q(sm.getSessionID()));
            }
            emit(ev("message", b.toString()));
        }
        if (mode.equals("echo")) {
            final int o = opts < 0 ? options : opts;
            replies.execute(() -> {
                try {
                    channel.send(new Member[] { sender }, msg, o);
                } catch (Exception e) {
                    emit(ev("error", "\"where\":\"echo\",\"message\":" + q(String.valueOf(e))));
                }
            });
        }
        if (mode.equals("sink") && expect > 0 && n == expect) {
            sinkTotals();
            synchronized (done) {
                done.notifyAll();
            }
        }
    }

    void sinkTotals() {
        double secs = (lastRx - firstRx) / 1e9;
        long n = rxMessages.get();
        long bytes = rxBytes.get();
        emit(ev("sinkTotals", "\"messages\":" + n + ",\"bytes\":" + bytes + ",\"seconds\":" + secs + ",\"msgs_per_s\":"
                + (secs > 0 ? n / secs : 0) + ",\"mb_per_s\":" + (secs > 0 ? bytes / secs / 1e6 : 0)));
    }

    Member[] targets(String dest) {
        Member[] all = channel.getMembers();
        if (dest == null || dest.equals("all")) {
            return all;
        }
        String[] hp = dest.split(":");
        List<Member> sel = new ArrayList<>();
        for (Member m : all) {
            if (host(m.getHost()).equals(hp[0]) && (hp.length < 2 || m.getPort() == Integer.parseInt(hp[1]))) {
                sel.add(m);
            }
        }
        return sel.toArray(new Member[0]);
    }

    void waitMembers(int k, double timeoutSec) throws InterruptedException {
        long end = System.currentTimeMillis() + (long) (timeoutSec * 1000);
        while (channel.getMembers().length < k && System.currentTimeMillis() < end) {
            Thread.sleep(50);
        }
        if (channel.getMembers().length < k) {
            throw new IllegalStateException("only " + channel.getMembers().length + " members after " + timeoutSec
                    + " s, wanted " + k);
        }
    }

    void send(int n, int s, int opts, String dest) throws Exception {
        send(n, s, opts, dest, false);
    }

    void send(int n, int s, int opts, String dest, boolean zeros) throws Exception {
        Member[] dst = targets(dest);
        if (dst.length == 0) {
            throw new IllegalStateException("no member matches " + dest);
        }
        byte[] data = new byte[s];
        if (!zeros) {
            new Random(42).nextBytes(data);
        }
        Serializable payload = (opts & Channel.SEND_OPTIONS_BYTE_MESSAGE) != 0 ? new ByteMessage(data) : data;
        MessageDispatchInterceptor mdi = null;
        for (ChannelInterceptor ci : stack) {
            if (ci instanceof MessageDispatchInterceptor) {
                mdi = (MessageDispatchInterceptor) ci;
            }
        }
        boolean async = mdi != null && tracker != null && (opts & Channel.SEND_OPTIONS_ASYNCHRONOUS) != 0;
        List<UniqueId> ids = new ArrayList<>(async ? n : 0);
        long t0 = System.nanoTime();
        if (async) {
            tracker.finished.clear();
            tracker.tracking = true;
        }
        try {
            for (int i = 0; i < n; i++) {
                UniqueId id = channel.send(dst, payload, opts);
                if (async) {
                    ids.add(id);
                }
            }
            // asynchronous sends: wait until the dispatch threads have sent every message of this command
            if (async && !tracker.awaitAll(ids, 600_000)) {
                throw new IllegalStateException("asynchronous sends not finished after 600 s");
            }
        } finally {
            if (async) {
                tracker.tracking = false;
                tracker.finished.clear();
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        long mdiSize = 0;
        if (async) { // diagnostic only: let the dispatch threads leave sendAsyncData (bounded), then read its counter
            long end = System.currentTimeMillis() + 2000;
            while (mdi.getActiveCount() > 0 && System.currentTimeMillis() < end) {
                Thread.sleep(1);
            }
            mdiSize = mdi.getCurrentSize();
        }
        StringBuilder d = new StringBuilder("[");
        for (int i = 0; i < dst.length; i++) {
            d.append(i > 0 ? "," : "").append(q(host(dst[i].getHost()) + ":" + dst[i].getPort()));
        }
        d.append("]");
        emit(ev("sendDone", "\"messages\":" + n + ",\"size\":" + s + ",\"options\":" + opts + ",\"destinations\":" + d
                + ",\"seconds\":" + secs + ",\"msgs_per_s\":" + (n / secs) + ",\"mb_per_s\":" + ((double) n * s / secs / 1e6)
                + ",\"mdiCurrentSize\":" + mdiSize));
    }

    void emitMembers() {
        StringBuilder b = new StringBuilder("\"members\":[");
        Member[] ms = channel.getMembers();
        for (int i = 0; i < ms.length; i++) {
            b.append(i > 0 ? "," : "").append("{").append(memberJson(ms[i])).append("}");
        }
        emit(ev("members", b.append("]").toString()));
    }

    void commands() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                String[] w = line.trim().split("\\s+");
                try {
                    if (w[0].isEmpty()) {
                        continue;
                    } else if (w[0].equals("quit")) {
                        break;
                    } else if (w[0].equals("members")) {
                        emitMembers();
                    } else if (w[0].equals("send")) {
                        send(Integer.parseInt(w[1]), Integer.parseInt(w[2]), Integer.decode(w[3]), w.length > 4 ? w[4] : "all",
                                w.length > 5 && w[5].equals("zeros"));
                    } else if (w[0].equals("totals")) {
                        sinkTotals();
                    } else {
                        emit(ev("error", "\"where\":\"command\",\"message\":" + q("unknown command " + w[0])));
                    }
                } catch (Exception e) {
                    emit(ev("error", "\"where\":\"command\",\"message\":" + q(String.valueOf(e))));
                }
            }
        } catch (Exception e) {
            emit(ev("error", "\"where\":\"stdin\",\"message\":" + q(String.valueOf(e))));
        }
    }

    void run() throws Exception {
        build();
        int level = noMcast ? (Channel.SND_RX_SEQ | Channel.SND_TX_SEQ) : Channel.DEFAULT;
        if (uniqueId != null) { // fixed local uniqueId (static membership needs to know it in advance)
            McastService ms = (McastService) channel.getMembershipService();
            ms.setLocalMemberProperties(address == null ? "auto" : address, port, -1, -1);
            ((org.apache.catalina.tribes.membership.MemberImpl) ms.getLocalMember(false)).setUniqueId(unhex(uniqueId));
        }
        channel.start(level);
        Member local = channel.getLocalMember(true);
        StringBuilder names = new StringBuilder("[");
        for (int i = 0; i < stack.size(); i++) {
            names.append(i > 0 ? "," : "").append(q(stack.get(i).getClass().getSimpleName()));
        }
        emit(ev("ready", memberJson(local) + ",\"mode\":" + q(mode) + ",\"interceptors\":" + names.append("]")
                + ",\"mcast\":" + q(noMcast ? "" : mcastAddress + ":" + mcastPort)));
        try {
            if (mode.equals("send")) {
                waitMembers(waitMembers, waitTimeout);
                send(count, size, options, to);
                if (!exitAfterSend) {
                    commands();
                }
            } else if (mode.equals("sink") && (duration > 0 || expect > 0)) {
                synchronized (done) {
                    done.wait(duration > 0 ? (long) (duration * 1000) : 0);
                }
                if (expect == 0 || rxMessages.get() < expect) {
                    sinkTotals();
                }
            } else {
                commands();
                if (mode.equals("sink")) {
                    sinkTotals();
                }
            }
        } finally {
            replies.shutdown();
            replies.awaitTermination(5, TimeUnit.SECONDS);
            channel.stop(level);
            emit(ev("stopped", ""));
        }
    }

    public static void main(String[] args) {
        TribesPeer p = new TribesPeer();
        try {
            p.parse(args);
        } catch (Exception e) {
            emit(ev("error", "\"where\":\"arguments\",\"message\":" + q(String.valueOf(e))));
            System.exit(2);
        }
        try {
            p.run();
            System.exit(0);
        } catch (Throwable e) {
            emit(ev("error", "\"where\":\"run\",\"message\":" + q(String.valueOf(e))));
            e.printStackTrace();
            System.exit(1);
        }
    }
}
