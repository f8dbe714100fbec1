import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;

import org.apache.catalina.tribes.ChannelException;
import org.apache.catalina.tribes.ChannelMessage;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.ChannelInterceptorBase;
import org.apache.catalina.tribes.group.InterceptorPayload;
import org.apache.catalina.tribes.group.interceptors.FragmentationInterceptor;
import org.apache.catalina.tribes.group.interceptors.GzipInterceptor;
import org.apache.catalina.tribes.group.interceptors.OrderInterceptor;
import org.apache.catalina.tribes.group.interceptors.TcpFailureDetector;
import org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.XByteBuffer;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.Constants;

/**
 * Golden vectors of the channel layer, made by the real Tomcat classes (tests/vectors/channel/):
 * payloads as they leave GzipInterceptor, FragmentationInterceptor and OrderInterceptor, the magic
 * payloads of TcpFailureDetector and TcpPingInterceptor, the ACK/FAIL_ACK frames. One JSON object on stdout.
 */
public class ChannelVectors {
    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static byte[] data(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) ((i * 7 + i / 13) % 251);
        }
        return b;
    }

    static class Capture extends ChannelInterceptorBase {
        final List<String> payloads = new ArrayList<>();
        final List<Integer> options = new ArrayList<>();
        @Override
        public void sendMessage(Member[] destination, ChannelMessage msg, InterceptorPayload payload) throws ChannelException {
            payloads.add(hex(msg.getMessage().getBytes()));
            options.add(Integer.valueOf(msg.getOptions()));
        }
    }

    static ChannelData msg(byte[] payload, int options) throws Exception {
        ChannelData d = new ChannelData(true);
        d.setAddress(new MemberImpl("10.0.0.1", 4000, 0));
        d.setOptions(options);
        d.setMessage(new XByteBuffer(payload, false));
        return d;
    }

    static byte[] staticBytes(Class<?> c, String name) throws Exception {
        Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        return (byte[]) f.get(null);
    }

    static String list(List<?> l, boolean quote) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < l.size(); i++) {
            s.append(i > 0 ? "," : "").append(quote ? "\"" + l.get(i) + "\"" : String.valueOf(l.get(i)));
        }
        return s.append("]").toString();
    }

    public static void main(String[] args) throws Exception {
        StringBuilder out = new StringBuilder("{");
        out.append("\"ackFrame\":\"").append(hex(Constants.ACK_COMMAND)).append("\",");
        out.append("\"failAckFrame\":\"").append(hex(Constants.FAIL_ACK_COMMAND)).append("\",");
        out.append("\"tcpFailDetect\":\"").append(hex(staticBytes(TcpFailureDetector.class, "TCP_FAIL_DETECT"))).append("\",");
        out.append("\"tcpPingData\":\"").append(hex(staticBytes(TcpPingInterceptor.class, "TCP_PING_DATA"))).append("\",");
        // gzip
        int[] sizes = { 0, 1, 100, 5000, 70000 };
        out.append("\"gzip\":[");
        for (int i = 0; i < sizes.length; i++) {
            Capture cap = new Capture();
            GzipInterceptor g = new GzipInterceptor();
            g.setNext(cap);
            g.sendMessage(new Member[0], msg(data(sizes[i]), 2), null);
            out.append(i > 0 ? "," : "").append("{\"size\":").append(sizes[i]).append(",\"options\":")
                    .append(cap.options.get(0)).append(",\"out\":\"").append(cap.payloads.get(0)).append("\"}");
        }
        out.append("],");
        // fragmentation: maxSize 1000, payload 2500 -> 3 fragments; 10 bytes -> not fragmented
        out.append("\"fragmentation\":[");
        int[] fsizes = { 10, 1000, 2500 };
        for (int i = 0; i < fsizes.length; i++) {
            Capture cap = new Capture();
            FragmentationInterceptor f = new FragmentationInterceptor();
            f.setMaxSize(1000);
            f.setNext(cap);
            f.sendMessage(new Member[0], msg(data(fsizes[i]), 2), null);
            out.append(i > 0 ? "," : "").append("{\"maxSize\":1000,\"size\":").append(fsizes[i]).append(",\"out\":")
                    .append(list(cap.payloads, true)).append("}");
        }
        out.append("],");
        // order: three sends to two members
        Capture cap = new Capture();
        OrderInterceptor o = new OrderInterceptor();
        o.setNext(cap);
        Member m1 = new MemberImpl("10.0.0.2", 4000, 0);
        Member m2 = new MemberImpl("10.0.0.3", 4000, 0);
        o.sendMessage(new Member[] { m1, m2 }, msg(data(5), 2), null);
        o.sendMessage(new Member[] { m1 }, msg(data(5), 2), null);
        o.sendMessage(new Member[] { m2, m1 }, msg(data(5), 2), null);
        out.append("\"order\":{\"size\":5,\"out\":").append(list(cap.payloads, true)).append("}");
        out.append("}");
        System.out.println(out);
    }
}
